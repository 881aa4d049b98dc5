"""Hostile and benign upload files, generated at run time so no binary is committed.

Every function returns the file's bytes. Benign images are small and deterministic; the hostile ones are
crafted by hand where a library would refuse to make them (a PNG header claiming 10^10 pixels, a GIF
whose logical screen is 30000x30000) and never allocate the pixels they claim.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence

from PIL import Image, ImageCms

from workers.uploads import clamd_local

RGB = tuple[int, int, int]

GREY: RGB = (128, 128, 128)
RED: RGB = (255, 0, 0)
GREEN: RGB = (0, 255, 0)
BLUE: RGB = (0, 0, 255)

#: The stored-orientation size and marker of :func:`exif_orientation6_gps_jpeg`: a red block in the
#: stored top-left corner, which orientation 6 (rotate 90° clockwise) shows at the top-right.
ORIENTATION6_STORED_SIZE = (120, 60)
ORIENTATION6_MARKER_PX = 20

PHP_PAYLOAD = b"<?php system($_GET['c']); ?>"


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _noisy(w: int, h: int, color: RGB) -> Image.Image:
    """``color`` with a deterministic texture, so a JPEG has real entropy-coded data to truncate."""
    noise = Image.effect_noise((w, h), 40).convert("RGB")
    return Image.blend(Image.new("RGB", (w, h), color), noise, 0.35)


# --- benign images --------------------------------------------------------------------------------------


def jpeg(w: int = 64, h: int = 48, *, color: RGB = GREY, quality: int = 90, noise: bool = False) -> bytes:
    """A baseline RGB JPEG of one colour (or textured around it with ``noise``)."""
    img = _noisy(w, h, color) if noise else Image.new("RGB", (w, h), color)
    return _save(img, "JPEG", quality=quality)


def cmyk_jpeg(w: int = 64, h: int = 48, cmyk: tuple[int, int, int, int] = (0, 255, 255, 0)) -> bytes:
    """A CMYK JPEG (Adobe marker) of one ink mix; the default is process red."""
    return _save(Image.new("CMYK", (w, h), cmyk), "JPEG", quality=95)


def exif_orientation6_gps_jpeg() -> bytes:
    """A JPEG stored 120x60 with EXIF orientation 6, GPS position, camera make, XMP, an sRGB ICC profile
    and a comment.

    Displayed it is 60x120 and the red marker block sits at the top-right.
    """
    w, h = ORIENTATION6_STORED_SIZE
    img = Image.new("RGB", (w, h), GREY)
    img.paste(RED, (0, 0, ORIENTATION6_MARKER_PX, ORIENTATION6_MARKER_PX))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "CorpusCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    metadata = {"exif": exif.tobytes(), "xmp": xmp, "icc_profile": icc, "comment": b"corpus secret comment"}
    return _save(img, "JPEG", quality=95, **metadata)


def png(
    w: int = 64, h: int = 48, *, mode: str = "RGB", bits: int = 8, color: RGB = GREY, alpha: int = 128
) -> bytes:
    """A one-colour PNG written by hand, so every colour type and 16-bit depth is available.

    ``mode``: "L" (grey), "LA" (grey + alpha), "RGB", "RGBA" or "P" (palette; 8-bit only).
    ``bits``: 8 or 16. 16-bit samples are the 8-bit value times 257.
    """
    colour_type = {"L": 0, "RGB": 2, "P": 3, "LA": 4, "RGBA": 6}[mode]
    if bits not in (8, 16) or (mode == "P" and bits != 8):
        raise ValueError(f"unsupported PNG depth {bits} for mode {mode}")
    grey = round(sum(color) / 3)
    samples: Sequence[int] = {
        "L": (grey,),
        "LA": (grey, alpha),
        "RGB": color,
        "RGBA": (*color, alpha),
        "P": (0,),
    }[mode]
    pixel = b"".join((v * 257).to_bytes(2, "big") if bits == 16 else bytes([v]) for v in samples)
    if mode == "P":
        pixel = b"\x00"
    row = b"\x00" + pixel * w  # filter type 0 (none)
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, colour_type, 0, 0, 0))]
    if mode == "P":
        chunks.append(_png_chunk(b"PLTE", bytes(color)))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(row * h)))
    return _PNG_SIGNATURE + b"".join(chunks) + _png_chunk(b"IEND", b"")


def two_colour_png(
    w: int = 100, h: int = 50, left: RGB = RED, right: RGB = BLUE, left_cols: int = 70
) -> bytes:
    """``left`` in the first ``left_cols`` columns, ``right`` in the rest (dominant-colour fixture)."""
    img = Image.new("RGB", (w, h), right)
    img.paste(left, (0, 0, left_cols, h))
    return _save(img, "PNG")


def webp(w: int = 64, h: int = 48, *, color: RGB = GREY, quality: int = 90, noise: bool = False) -> bytes:
    """A lossy WebP."""
    img = _noisy(w, h, color) if noise else Image.new("RGB", (w, h), color)
    return _save(img, "WEBP", quality=quality)


def animated_gif(w: int = 40, h: int = 30, colours: Sequence[RGB] = (RED, GREEN, BLUE)) -> bytes:
    """One frame per colour, looping; the first frame is ``colours[0]``."""
    frames = [Image.new("RGB", (w, h), c) for c in colours]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def tiff(w: int = 32, h: int = 32) -> bytes:
    """A valid TIFF: an image, but not of an allowed format."""
    return _save(Image.new("RGB", (w, h), GREY), "TIFF")


# --- hostile images -------------------------------------------------------------------------------------


def truncated_jpeg(w: int = 256, h: int = 192, keep: float = 0.6) -> bytes:
    """A textured JPEG cut after ``keep`` of its bytes: valid header, missing scan data and EOI."""
    data = jpeg(w, h, noise=True)
    return data[: int(len(data) * keep)]


def pixel_flood_png(w: int = 100_000, h: int = 100_000) -> bytes:
    """A PNG whose IHDR (valid CRC) claims ``w`` x ``h`` pixels, followed by a tiny IDAT."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return _PNG_SIGNATURE + ihdr + _png_chunk(b"IDAT", zlib.compress(b"\x00")) + _png_chunk(b"IEND", b"")


def decompression_bomb_gif(w: int = 30_000, h: int = 30_000) -> bytes:
    """A GIF whose logical screen and single frame are ``w`` x ``h`` with a few bytes of LZW data."""
    screen = struct.pack("<HHBBB", w, h, 0x80, 0, 0)  # global colour table of 2 entries
    palette = bytes((0, 0, 0, 255, 255, 255))
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0)
    # LZW, minimum code size 2, 3-bit codes LSB first: clear (4), index 0, end of information (5).
    lzw = b"\x02" + b"\x02\x44\x01" + b"\x00"
    return b"GIF89a" + screen + palette + frame + lzw + b"\x3b"


def jpeg_php_polyglot() -> bytes:
    """A valid JPEG carrying PHP in a comment segment and again after the end-of-image marker."""
    img = Image.new("RGB", (48, 32), GREY)
    return _save(img, "JPEG", quality=90, comment=PHP_PAYLOAD) + PHP_PAYLOAD


def svg_with_script() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<script type="text/javascript">alert(document.cookie)</script>'
        b'<rect width="100" height="100" fill="red"/></svg>\n'
    )


def html_page() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"
    )


# --- not images -----------------------------------------------------------------------------------------


def zip_archive() -> bytes:
    """A zip holding one PHP file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("shell.php", PHP_PAYLOAD)
    return buf.getvalue()


def mp4_minimal() -> bytes:
    """An ISO-BMFF file: ``ftyp`` (isom), a movie header box and an empty ``mdat``."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd_body = (
        struct.pack(">B3xIIII", 0, 0, 0, 1000, 0)  # version, flags, created, modified, timescale, duration
        + struct.pack(">IH10x", 0x10000, 0x100)  # rate 1.0, volume 1.0, reserved
        + matrix
        + bytes(24)  # pre-defined
        + struct.pack(">I", 2)  # next track id
    )
    return ftyp + _box(b"moov", _box(b"mvhd", mvhd_body)) + _box(b"mdat", b"")


def webm_minimal() -> bytes:
    """An EBML header with DocType ``webm`` and a Segment holding only an Info element."""
    header = b"".join(
        (
            _ebml(b"\x42\x86", b"\x01"),  # EBMLVersion
            _ebml(b"\x42\xf7", b"\x01"),  # EBMLReadVersion
            _ebml(b"\x42\xf2", b"\x04"),  # EBMLMaxIDLength
            _ebml(b"\x42\xf3", b"\x08"),  # EBMLMaxSizeLength
            _ebml(b"\x42\x82", b"webm"),  # DocType
            _ebml(b"\x42\x87", b"\x04"),  # DocTypeVersion
            _ebml(b"\x42\x85", b"\x02"),  # DocTypeReadVersion
        )
    )
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", struct.pack(">I", 1_000_000)))  # TimecodeScale
    return _ebml(b"\x1a\x45\xdf\xa3", header) + _ebml(b"\x18\x53\x80\x67", info)


def eicar() -> bytes:
    """The standard 68-byte EICAR test file, which every anti-virus engine reports as infected."""
    return clamd_local.eicar()


# --- encoders -------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _ebml(element_id: bytes, body: bytes) -> bytes:
    """An EBML element whose size is a one-byte variable-length integer, as muxers write small elements."""
    if len(body) > 126:
        raise ValueError("element too large for a one-byte EBML size")
    return element_id + bytes([0x80 | len(body)]) + body
