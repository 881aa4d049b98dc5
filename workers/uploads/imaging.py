"""Image processing for uploads: a header-only probe, then one locked-down decode into every rendition.

Security. Importing this module locks libvips down for the whole process: untrusted loaders are blocked,
every foreign loader except JPEG, PNG, GIF and WebP is blocked (so SVG, TIFF, HEIF, PDF, ... are "not a
known file format"), and the operation cache is off (each upload is a new file; the cache would only hold
decoded pixels and could serve a stale decode for a reused path). Loads use ``fail_on="warning"``, so a
truncated or corrupt file is rejected instead of half-rendered. The pixel count is checked from the
header before any pixel is decoded. Pillow never decodes an upload here: it only quantizes a 64-pixel
sample that libvips produced.

Strategy (measured with ``bench/thumbnails.py``): the master must be the full-size image, so one full
decode is unavoidable. The file is decoded once, sequentially, into memory (converted to 8-bit sRGB on the
way); the master is encoded from that buffer and the thumbnails are chained from it, largest first, each
from the smallest rendition already made that still covers it. A streamed master plus a separate
shrink-on-load decode for the thumbnails was slower on every input (12 MP JPEG: 162 ms against 147 ms;
9 MP WebP: 336 against 246): the entropy decoding a second pass repeats costs more than shrinking pixels
that are already in memory, where adding the four product thumbnails costs about 30 ms. Memory is about
3-4 bytes per pixel (twice that briefly when EXIF orientation needs a rotation): ~115 MB peak RSS on 12 MP.

Formats. Output formats are JPEG and PNG (plus WebP variants when asked) and the extension is the real
format. An image with real transparency (an alpha channel that is not fully opaque) stays PNG in every
rendition, since JPEG cannot hold alpha. Otherwise the master is JPEG at ``spec.quality`` when
``spec.compress``; without ``compress`` the master keeps its source's fidelity: PNG for PNG/GIF sources
(lossless) and JPEG at :data:`UNCOMPRESSED_JPEG_QUALITY` for JPEG/WebP ones (a re-encode is unavoidable to
orient and strip metadata). Thumbnails are JPEG at ``spec.quality``. Every output is saved with no
metadata at all (no EXIF, GPS, XMP, IPTC, ICC or comments) and in sRGB, 8 bits per sample.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyvips
from PIL import Image

#: libvips loader nickname (``vips-loader`` of a file load) → our format name.
_LOADER_FORMATS = {"jpegload": "jpeg", "pngload": "png", "gifload": "gif", "webpload": "webp"}
#: libvips 8.18 class names of those loaders (the GIF loader is libnsgif's).
_ALLOWED_LOADER_CLASSES = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadWebp",
)
_BITS_PER_SAMPLE = {"uchar": 8, "char": 8, "ushort": 16, "short": 16, "uint": 32, "int": 32, "float": 32}
_NOT_ALLOWED = "not an allowed image (jpeg, png, gif, webp)"
_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_EXTENSION = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_NO_METADATA = pyvips.enums.ForeignKeep.NONE
_RENDITION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

#: JPEG quality of a master when ``spec.compress`` is off: visually lossless.
UNCOMPRESSED_JPEG_QUALITY = 95
#: libwebp effort: the default 4 took 2.2x the time of 2 on a 12 MP master for files 2% smaller.
WEBP_EFFORT = 2
#: Renditions whose longer side is below this get no watermark: the text would be an unreadable smudge.
WATERMARK_MIN_SIDE_PX = 200
#: Watermark text box, as fractions of the rendition: at most 40% of its width and 6% of its height.
WATERMARK_BOX = (0.40, 0.06)
WATERMARK_FONT = "sans bold"
WATERMARK_TEXT_OPACITY = 0.6
#: A dark offset copy under the white text keeps it legible on white product backgrounds.
WATERMARK_SHADOW_OPACITY = 0.35
#: Dominant colours: a sample of at most this many pixels a side, quantized to this many colours; a
#: colour covering less than the minimum share of the opaque sample (edge blends) is not "dominant".
DOMINANT_SAMPLE_PX = 64
DOMINANT_PALETTE_SIZE = 8
DOMINANT_MIN_SHARE = 0.02
#: Clusters closer than this (Euclidean distance in 8-bit RGB) are one colour to the eye.
DOMINANT_MERGE_DISTANCE = 24


def _lock_down() -> None:
    pyvips.cache_set_max(0)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in _ALLOWED_LOADER_CLASSES:
        pyvips.operation_block_set(name, False)


_lock_down()


class ImageRejected(Exception):
    """The upload is not an image we accept; the message starts with the rule that rejected it."""


@dataclass(frozen=True)
class ImageHeader:
    """What the file's header claims. ``width``/``height`` are as displayed (EXIF orientation applied)."""

    format: str  # "jpeg" | "png" | "gif" | "webp"
    width: int
    height: int
    pages: int
    bands: int
    interpretation: str  # libvips interpretation of the stored pixels: "srgb", "cmyk", "b-w", "rgb16", ...
    bits_per_sample: int


@dataclass(frozen=True)
class ImageSpec:
    """How to render one upload context (a row of ``file_upload_configs``)."""

    thumbnail_sizes: dict[str, tuple[int, int]]  # name → (box width, box height) the thumbnail fits inside
    quality: int  # 1-100, JPEG and WebP
    compress: bool
    webp: bool
    watermark_text: str | None
    max_pixels: int

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality {self.quality} is outside 1-100")
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels {self.max_pixels} must be positive")
        for name, (box_w, box_h) in self.thumbnail_sizes.items():
            if not _RENDITION_NAME.match(name) or name == "master" or name.endswith("_webp"):
                raise ValueError(f"thumbnail size name {name!r} is not a valid rendition name")
            if box_w < 1 or box_h < 1:
                raise ValueError(f"thumbnail size {name!r} has an empty box {box_w}x{box_h}")


@dataclass(frozen=True)
class Rendition:
    name: str  # "master", a thumbnail size name, or either followed by "_webp"
    path: Path
    width: int
    height: int
    mime: str


@dataclass(frozen=True)
class RenderResult:
    width: int  # of the auto-oriented master
    height: int
    renditions: list[Rendition]
    dominant_colors: list[str]  # up to three "#rrggbb", most common first


def probe(path: Path, *, max_pixels: int) -> ImageHeader:
    """Read the header only (no pixel decode) and reject what must never be decoded.

    Raises :class:`ImageRejected` when no allowed loader recognises the file, or when the header's
    width x height exceeds ``max_pixels`` (pixel flood / decompression bomb; a GIF counts its logical
    screen, which is what the decoder allocates).
    """
    try:
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="warning")
    except pyvips.Error as exc:
        raise ImageRejected(f"{_NOT_ALLOWED}: {_vips_reason(exc, path)}") from None
    loader = str(image.get("vips-loader"))
    image_format = _LOADER_FORMATS.get(loader)
    if image_format is None:  # unreachable while the loader block holds; kept as a second lock
        raise ImageRejected(f"{_NOT_ALLOWED}: loaded by {loader}")
    width, height = image.width, image.height
    if width * height > max_pixels:
        raise ImageRejected(
            f"pixel flood: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )
    if _field(image, "orientation", 1) in (5, 6, 7, 8):
        width, height = height, width
    return ImageHeader(
        format=image_format,
        width=width,
        height=height,
        pages=_field(image, "n-pages", 1),
        bands=image.bands,
        interpretation=str(image.interpretation),
        bits_per_sample=_BITS_PER_SAMPLE.get(str(image.format), 64),
    )


def render(src: Path, spec: ImageSpec, dest: Callable[[str, str], Path]) -> RenderResult:
    """Decode ``src`` once and write the master, the thumbnails and their WebP variants.

    ``dest(name, ext)`` gives each rendition's final path. All outputs are encoded to temporary files
    beside their final paths first and moved into place (``os.replace``) only when every one succeeded,
    so a failure leaves neither temporary files nor a partial set. The same input and spec always give
    the same bytes. Raises :class:`ImageRejected` for a disallowed, flooding or corrupt file.
    """
    header = probe(src, max_pixels=spec.max_pixels)
    master = _decode(src)
    transparent = master.hasalpha()
    master_format, master_quality = _master_encoding(header.format, transparent, spec)
    thumb_format = "png" if transparent else "jpeg"

    outputs: list[tuple[str, pyvips.Image, str, int]] = [("master", master, master_format, master_quality)]
    outputs += [(name, thumb, thumb_format, spec.quality) for name, thumb in _thumbnails(master, spec)]
    smallest = min((image for _, image, _, _ in outputs), key=lambda image: image.width * image.height)
    dominant = dominant_colors(smallest)

    renditions: list[Rendition] = []
    with _staged() as stage:
        for name, image, image_format, quality in outputs:
            marked = _watermark(image, spec.watermark_text) if spec.watermark_text else image
            variants = [(name, image_format, quality)]
            if spec.webp:
                variants.append((f"{name}_webp", "webp", spec.quality))
            for variant, variant_format, variant_quality in variants:
                path = dest(variant, _EXTENSION[variant_format])
                _save(marked, stage(path), variant_format, variant_quality)
                renditions.append(Rendition(variant, path, image.width, image.height, _MIME[variant_format]))
    return RenderResult(master.width, master.height, renditions, dominant)


def dominant_colors(image: pyvips.Image, count: int = 3) -> list[str]:
    """The ``count`` most common colours of ``image`` as ``#rrggbb``, ignoring transparent pixels.

    Pillow's median cut on a tiny sample is the right tool here: libvips has no palette quantizer that
    reports its clusters.
    """
    sample = image.thumbnail_image(DOMINANT_SAMPLE_PX, height=DOMINANT_SAMPLE_PX, size="down")
    data = bytes(sample.write_to_memory())
    if sample.bands == 4:  # keep the colour of pixels that are at least half opaque
        data = b"".join(data[i : i + 3] for i in range(0, len(data), 4) if data[i + 3] >= 128)
    total = len(data) // 3
    if total == 0:
        return []
    pixels = Image.frombytes("RGB", (total, 1), data)
    quantized = pixels.quantize(colors=DOMINANT_PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    clusters = sorted(
        ((n, tuple(palette[3 * i : 3 * i + 3])) for i, n in enumerate(quantized.histogram()) if n),
        key=lambda cluster: (-cluster[0], cluster[1]),
    )
    # Resampling blends a few edge pixels into near-copies of a colour (#0100fe beside #0000ff): fold
    # each cluster into a bigger one close to it, so the result lists distinct colours.
    colours: list[tuple[int, ...]] = []
    counts: list[int] = []
    for n, rgb in clusters:
        close = [k for k, kept in enumerate(colours) if math.dist(rgb, kept) <= DOMINANT_MERGE_DISTANCE]
        if close:
            counts[close[0]] += n
        else:
            colours.append(rgb)
            counts.append(n)
    ranked = sorted(zip(counts, colours, strict=True), key=lambda item: -item[0])[:count]
    return ["#" + bytes(rgb).hex() for n, rgb in ranked if n >= total * DOMINANT_MIN_SHARE]


def _decode(src: Path) -> pyvips.Image:
    """The first frame, fully decoded into memory as 8-bit sRGB (alpha only if not opaque), oriented."""
    try:
        image = pyvips.Image.new_from_file(str(src), access="sequential", fail_on="warning")
        image = _to_srgb8(image).copy_memory()  # the one full decode: corrupt data fails here
    except pyvips.Error as exc:
        raise ImageRejected(f"corrupt image: {_vips_reason(exc, src)}") from None
    if image.hasalpha() and image[image.bands - 1].min() == 255:
        image = image.extract_band(0, n=image.bands - 1)
    if _field(image, "orientation", 1) == 1:
        return image
    return image.autorot().copy_memory()  # read by the master and the first thumbnail: rotate once


def _to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """CMYK, 16-bit, grey, grey + alpha, palette, or an embedded profile → 8-bit sRGB (alpha kept)."""
    if image.get_typeof("icc-profile-data"):
        # A broken embedded profile falls back to the interpretation's default conversion below.
        with contextlib.suppress(pyvips.Error):
            image = image.icc_transform("srgb", embedded=True, intent="relative")
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")  # 16-bit interpretations come out as 8-bit sRGB
    return image


def _master_encoding(source_format: str, transparent: bool, spec: ImageSpec) -> tuple[str, int]:
    if transparent or (not spec.compress and source_format in ("png", "gif")):
        return "png", 0
    return "jpeg", spec.quality if spec.compress else UNCOMPRESSED_JPEG_QUALITY


def _thumbnails(master: pyvips.Image, spec: ImageSpec) -> Iterator[tuple[str, pyvips.Image]]:
    """Each size fitted inside its box (never upscaled), shrunk from the smallest image that covers it."""
    targets = {name: _fit(master.width, master.height, box) for name, box in spec.thumbnail_sizes.items()}
    made: dict[str, pyvips.Image] = {}
    for name in sorted(targets, key=lambda n: (-targets[n][0] * targets[n][1], n)):
        width, height = targets[name]
        sources = [
            image for image in [master, *made.values()] if image.width >= width and image.height >= height
        ]
        source = min(sources, key=lambda image: image.width * image.height)
        if (source.width, source.height) == (width, height):
            made[name] = source
        else:
            made[name] = source.thumbnail_image(width, height=height, size="force").copy_memory()
    for name in spec.thumbnail_sizes:
        yield name, made[name]


def _fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _watermark(image: pyvips.Image, text: str) -> pyvips.Image:
    """``text`` in white over a dark shadow, semi-transparent, at the bottom-right corner."""
    if max(image.width, image.height) < WATERMARK_MIN_SIDE_PX:
        return image
    box_w = max(1, int(image.width * WATERMARK_BOX[0]))
    box_h = max(8, int(image.height * WATERMARK_BOX[1]))
    # Text size scales with dpi: one measurement at 72 dpi sizes the text to the box. libvips' own
    # autofit (width + height) searches by rendering many times, 45 ms per 12 MP render.
    reference = pyvips.Image.text(text, font=WATERMARK_FONT, dpi=72)
    dpi = max(1, int(72 * min(box_w / reference.width, box_h / reference.height)))
    glyphs = pyvips.Image.text(text, font=WATERMARK_FONT, dpi=dpi)
    offset = max(1, glyphs.height // 24)
    margin = max(2, min(image.width, image.height) // 50)
    patch_w, patch_h = glyphs.width + offset, glyphs.height + offset
    if patch_w + margin > image.width or patch_h + margin > image.height:
        return image
    x, y = image.width - patch_w - margin, image.height - patch_h - margin
    patch = image.crop(x, y, patch_w, patch_h)
    for shift, colour, opacity in ((offset, 0, WATERMARK_SHADOW_OPACITY), (0, 255, WATERMARK_TEXT_OPACITY)):
        alpha = (glyphs.embed(shift, shift, patch_w, patch_h) * opacity).cast("uchar")
        layer = (pyvips.Image.black(patch_w, patch_h, bands=3) + colour).cast("uchar").bandjoin(alpha)
        patch = patch.composite2(layer.copy(interpretation="srgb"), "over")
    return image.insert(patch.extract_band(0, n=image.bands), x, y)


@contextlib.contextmanager
def _staged() -> Iterator[Callable[[Path], Path]]:
    """Hand out temporary paths beside final ones; on success move them all into place, else delete."""
    staged: list[tuple[Path, Path]] = []

    def stage(final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
        os.close(fd)
        staged.append((Path(name), final))
        return Path(name)

    try:
        yield stage
        for temp, final in staged:
            os.chmod(temp, 0o644)  # mkstemp makes 0600; the public tree is served by another user
            os.replace(temp, final)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)


def _save(image: pyvips.Image, path: Path, image_format: str, quality: int) -> None:
    if image_format == "jpeg":
        image.jpegsave(str(path), Q=quality, keep=_NO_METADATA)
    elif image_format == "png":
        image.pngsave(str(path), keep=_NO_METADATA)
    else:
        image.webpsave(str(path), Q=quality, effort=WEBP_EFFORT, keep=_NO_METADATA)


def _field(image: pyvips.Image, name: str, default: int) -> int:
    return int(image.get(name)) if image.get_typeof(name) else default


def _vips_reason(exc: pyvips.Error, path: Path) -> str:
    """libvips' last message line, with our server path taken out (reasons can reach the uploader)."""
    lines = [line.strip() for line in str(exc.detail or exc.message).splitlines() if line.strip()]
    return (lines[-1] if lines else "unreadable").replace(str(path), "file")
