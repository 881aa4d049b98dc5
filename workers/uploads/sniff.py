"""What a stored file really is, from its bytes alone.

The client's filename and declared MIME type are never consulted. :func:`detect` reads the magic
number at the start (cheap: intake records a provisional type with it). :func:`sniff` reads the
whole file and refuses what only pretends to be an allowed type: markup or script hidden inside
(a JPEG with PHP in a comment), data after the format's own end (a polyglot, an appended archive)
and structure that stops short (a truncated file). Each refusal is an :class:`UploadRejected`
whose message starts with the rule's name.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from storage.models import MediaType


class UploadRejected(Exception):
    """A file broke a rule; the message is ``"<rule>: <why>"``, fit to show the uploader."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


@dataclass(frozen=True)
class FileType:
    format: str  # "jpeg" | "png" | "gif" | "webp" | "mp4" | "webm"
    mime: str
    extension: str  # the one stored, whatever the client's filename said
    media_type: MediaType


TYPES = {
    "jpeg": FileType("jpeg", "image/jpeg", "jpg", MediaType.image),
    "png": FileType("png", "image/png", "png", MediaType.image),
    "gif": FileType("gif", "image/gif", "gif", MediaType.image),
    "webp": FileType("webp", "image/webp", "webp", MediaType.image),
    "mp4": FileType("mp4", "video/mp4", "mp4", MediaType.video),
    "webm": FileType("webm", "video/webm", "webm", MediaType.video),
}

#: How much of the start of a file :func:`detect` looks at.
HEAD_BYTES = 4096
#: ``ftyp`` brands of plain MP4 (ISO base media with MPEG-4 / H.264 content), as phones record it.
MP4_BRANDS = frozenset(
    (b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ")
)
#: ``ftyp`` brands that are containers we refuse, with what they are.
REFUSED_BRANDS = {
    b"qt  ": "a QuickTime movie",
    b"heic": "a HEIF image",
    b"heix": "a HEIF image",
    b"mif1": "a HEIF image",
    b"msf1": "a HEIF image sequence",
    b"avif": "an AVIF image",
    b"avis": "an AVIF image sequence",
}
#: Magic numbers of files that are not images or videos; the reason names what they are.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"%PDF-", "a PDF document"),
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\x00", "an icon file"),
    (b"8BPS", "a Photoshop document"),
    (b"\xd0\xcf\x11\xe0", "an Office document"),
)
#: Text at the start of a file, after a BOM and white space, lower-cased.
_REFUSED_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"<?php", "a PHP script"),
    (b"#!", "a script"),
    (b"<!doctype html", "an HTML document"),
    (b"<html", "an HTML document"),
    (b"<head", "an HTML document"),
    (b"<body", "an HTML document"),
    (b"<script", "an HTML document"),
    (b"<iframe", "an HTML document"),
)
#: Markup or script that has no business inside an image or a video. Each pattern is long enough
#: that compressed data holds it by chance about once in 10^4 files of 20 MB (5+ specific bytes).
_EMBEDDED = re.compile(
    rb"(?P<php><\?php\s)|(?P<script><script[\s>])|(?P<html><html[\s>]|<!doctype\s+html|<iframe[\s>])"
    rb"|(?P<svg><svg[\s>])",
    re.IGNORECASE,
)
_EMBEDDED_NAMES = {"php": "PHP code", "script": "a script tag", "html": "HTML markup", "svg": "SVG markup"}
_TRUNCATED = "truncated"
_TRAILING = "trailing data"


def detect(head: bytes) -> FileType:
    """The type named by the magic number at the start of ``head``; :class:`UploadRejected` otherwise."""
    if not head:
        raise UploadRejected("empty file", "the file has no bytes")
    if head.startswith(b"\xff\xd8\xff"):
        return TYPES["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return TYPES["png"]
    if head.startswith((b"GIF87a", b"GIF89a")):
        return TYPES["gif"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return TYPES["webp"]
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _ebml(head)
    raise UploadRejected("file type", _what_else(head))


def sniff(path: Path) -> FileType:
    """Detect the type of the file at ``path`` and check that the whole file is only that."""
    with open(path, "rb") as reader:
        head = reader.read(HEAD_BYTES)
        file_type = detect(head)
        with mmap.mmap(reader.fileno(), 0, access=mmap.ACCESS_READ) as data:
            embedded = _EMBEDDED.search(data)
            if embedded is not None:
                what = _EMBEDDED_NAMES[embedded.lastgroup or "html"]
                raise UploadRejected(
                    "polyglot",
                    f"the {file_type.format.upper()} file carries {what} at byte {embedded.start()}",
                )
            end = _WALKERS[file_type.format](data)
            _no_trailing_data(data, end, file_type.format)
    return file_type


def _what_else(head: bytes) -> str:
    for magic, what in _REFUSED_MAGIC:
        if head.startswith(magic):
            return f"this is {what}, not an accepted image or video"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "this is a tar archive, not an accepted image or video"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<?xml") or text.startswith(b"<svg"):
        if b"<svg" in text:
            return "SVG images are not accepted (they can carry scripts)"
        return "this is an XML document, not an accepted image or video"
    for start, what in _REFUSED_TEXT:
        if text.startswith(start):
            return f"this is {what}, not an accepted image or video"
    return "unrecognised content: not a JPEG, PNG, GIF, WebP, MP4 or WebM file"


def _iso_media(head: bytes) -> FileType:
    (box_size,) = struct.unpack(">I", head[:4])
    body = head[8 : min(box_size, len(head))] if box_size >= 16 else b""
    major = body[:4]
    compatible = {body[i : i + 4] for i in range(8, len(body) - 3, 4)}
    if major in REFUSED_BRANDS:
        raise UploadRejected("file type", f"this is {REFUSED_BRANDS[major]}, not an accepted image or video")
    if major in MP4_BRANDS or compatible & MP4_BRANDS:
        return TYPES["mp4"]
    brand_name = major.decode("ascii", "replace").strip()
    raise UploadRejected("file type", f"ISO media of brand {brand_name!r} is not an accepted MP4 video")


def _ebml(head: bytes) -> FileType:
    """WebM is Matroska with the DocType ``webm``; other DocTypes (``matroska``: .mkv) are refused."""
    try:
        _, header_start, header_size = _element(head, 0)
        pos, end = header_start, header_start + header_size
        while pos < min(end, len(head)):
            element_id, body, size = _element(head, pos)
            if element_id == 0x4282:  # DocType
                doc_type = head[body : body + size]
                if doc_type == b"webm":
                    return TYPES["webm"]
                name = doc_type.decode("ascii", "replace")
                raise UploadRejected("file type", f"EBML document of type {name!r} is not an accepted video")
            pos = body + size
    except (IndexError, ValueError):
        pass
    raise UploadRejected("file type", "EBML file without a readable DocType is not an accepted video")


def _no_trailing_data(data: mmap.mmap, end: int, file_format: str) -> None:
    size = len(data)
    if end > size:
        raise UploadRejected(_TRUNCATED, f"the {file_format.upper()} data stops {end - size} bytes short")
    tail = data[end:size]
    if tail.strip(b"\x00"):  # zero padding after the end is common and harmless
        raise UploadRejected(
            _TRAILING,
            f"{len(tail)} bytes after the end of the {file_format.upper()} data "
            "(a polyglot or an appended file)",
        )


def _need(data: mmap.mmap, end: int, file_format: str) -> None:
    if end > len(data):
        raise UploadRejected(_TRUNCATED, f"the {file_format.upper()} file ends inside its structure")


def _jpeg_end(data: mmap.mmap, start: int = 0) -> int:
    """Offset after the EOI marker of the JPEG at ``start``; further complete JPEGs may follow.

    Multi-picture JPEGs (MPF: Ultra HDR gain maps, depth maps) store their extra images after the
    first image's end; any other appended data is refused by the caller.
    """
    end = _one_jpeg_end(data, start)
    while data[end : end + 3] == b"\xff\xd8\xff":
        end = _one_jpeg_end(data, end)
    return end


def _one_jpeg_end(data: mmap.mmap, start: int) -> int:
    size = len(data)
    pos = start + 2  # after SOI
    while True:
        _need(data, pos + 2, "jpeg")
        if data[pos] != 0xFF:
            raise UploadRejected("corrupt image", f"JPEG marker expected at byte {pos}")
        while data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
            _need(data, pos + 2, "jpeg")
        marker = data[pos + 1]
        pos += 2
        if marker == 0xD9:  # EOI
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            continue
        _need(data, pos + 2, "jpeg")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise UploadRejected("corrupt image", f"JPEG segment of length {length} at byte {pos}")
        pos += length
        _need(data, pos, "jpeg")
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next marker that is not RSTn or FF00
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    raise UploadRejected(_TRUNCATED, "the JPEG file ends inside its image data")
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                elif following == 0xFF:
                    pos += 1
                else:
                    break


def _png_end(data: mmap.mmap) -> int:
    pos = 8
    first = True
    while True:
        _need(data, pos + 8, "png")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if not kind.isalpha() or (first and kind != b"IHDR"):
            raise UploadRejected("corrupt image", f"PNG chunk {kind!r} at byte {pos} is not valid here")
        first = False
        pos += 12 + length
        _need(data, pos, "png")
        if kind == b"IEND":
            return pos


def _gif_end(data: mmap.mmap) -> int:
    _need(data, 13, "gif")
    packed = data[10]
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    while True:
        _need(data, pos + 1, "gif")
        block = data[pos]
        if block == 0x3B:  # trailer
            return pos + 1
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            _need(data, pos + 10, "gif")
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _gif_sub_blocks(data, pos + 1)
        else:
            raise UploadRejected("corrupt image", f"GIF block 0x{block:02x} at byte {pos} is not valid")


def _gif_sub_blocks(data: mmap.mmap, pos: int) -> int:
    while True:
        _need(data, pos + 1, "gif")
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos


def _webp_end(data: mmap.mmap) -> int:
    _need(data, 12, "webp")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    _need(data, end, "webp")
    pos = 12
    while pos < end:  # the chunks must tile the RIFF body exactly
        _need(data, pos + 8, "webp")
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        pos += 8 + length + (length & 1)
    if pos != end:
        raise UploadRejected("corrupt image", "WebP chunks do not fill the RIFF container")
    return end


def _mp4_end(data: mmap.mmap) -> int:
    """Top-level boxes must tile the file; a movie (``moov``) box must be among them."""
    size = len(data)
    pos = 0
    has_movie = False
    while pos < size:
        if pos + 8 > size:
            return pos  # reported as trailing data
        box_size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if not all(0x20 <= c <= 0x7E for c in kind):
            return pos
        if box_size == 1:
            _need(data, pos + 16, "mp4")
            (box_size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif box_size == 0:  # the last box runs to the end of the file
            box_size = size - pos
        if box_size < 8:
            raise UploadRejected("corrupt video", f"MP4 box {kind!r} at byte {pos} has size {box_size}")
        has_movie |= kind == b"moov"
        pos += box_size
        _need(data, pos, "mp4")
    if not has_movie:
        raise UploadRejected("corrupt video", "the MP4 file has no movie header (moov box)")
    return pos


def _webm_end(data: mmap.mmap) -> int:
    """The EBML header, then the Segment; a Segment of unknown size (live recording) runs to the end."""
    size = len(data)
    pos = 0
    while pos < size:
        try:
            element_id, body, length = _element(data, pos)
        except (IndexError, ValueError):
            return pos
        if element_id not in (0x1A45DFA3, 0x18538067, 0xEC):  # EBML header, Segment, Void
            return pos
        if length < 0:
            return size
        pos = body + length
        _need(data, pos, "webm")
    return pos


def _element(data: bytes | mmap.mmap, pos: int) -> tuple[int, int, int]:
    """(id, offset of the body, body size; -1 for "unknown") of the EBML element at ``pos``."""
    element_id, id_len = _vint(data, pos, keep_marker=True, max_len=4)
    size, size_len = _vint(data, pos + id_len, keep_marker=False, max_len=8)
    if size == (1 << (7 * size_len)) - 1:
        size = -1
    return element_id, pos + id_len + size_len, size


def _vint(data: bytes | mmap.mmap, pos: int, *, keep_marker: bool, max_len: int) -> tuple[int, int]:
    first = data[pos]
    length = 1
    while length <= max_len and not first & (0x80 >> (length - 1)):
        length += 1
    if length > max_len:
        raise ValueError(f"invalid EBML variable-length integer at byte {pos}")
    value = first if keep_marker else first & (0xFF >> length)
    for i in range(1, length):
        value = (value << 8) | data[pos + i]
    return value, length


_WALKERS = {
    "jpeg": _jpeg_end,
    "png": _png_end,
    "gif": _gif_end,
    "webp": _webp_end,
    "mp4": _mp4_end,
    "webm": _webm_end,
}
