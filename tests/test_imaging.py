"""workers.uploads.imaging on the run-time corpus: what is rejected, and what every rendition looks like.

Plain functions, real libvips and Pillow, files in ``tmp_path``; no broker and no database.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from PIL import Image

from tests import corpus
from workers.uploads.imaging import ImageRejected, ImageSpec, RenderResult, probe, render

MAX_PIXELS = 40_000_000
PRODUCT_SIZES = {"thumbnail": (100, 100), "small": (300, 300), "medium": (600, 600), "large": (1200, 1200)}
#: Text that the corpus hides in metadata or after the image data; none of it may reach an output.
LEAK_MARKERS = (b"Exif\x00", b"CorpusCam", b"corpus secret comment", b"adobe:ns:meta", b"<?php")
METADATA_FIELD_PREFIXES = ("exif", "xmp", "iptc", "icc-profile", "orientation", "gainmap", "png-comment")


def make_spec(**overrides: object) -> ImageSpec:
    fields: dict[str, object] = {
        "thumbnail_sizes": {"small": (30, 30), "medium": (300, 300)},
        "quality": 85,
        "compress": True,
        "webp": False,
        "watermark_text": None,
        "max_pixels": MAX_PIXELS,
    }
    fields.update(overrides)
    return ImageSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture()
def upload(tmp_path: Path) -> Callable[[bytes], Path]:
    """Write corpus bytes where intake would leave them: a server-named file without extension."""

    def write(data: bytes) -> Path:
        path = tmp_path / "incoming" / "0f3c9a"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture()
def public(tmp_path: Path) -> Path:
    return tmp_path / "public" / "product" / "2025" / "01"


def dest_in(directory: Path) -> Callable[[str, str], Path]:
    return lambda name, ext: directory / f"5a1d2c_{name}.{ext}"


def rendered(src: Path, spec: ImageSpec, directory: Path) -> tuple[RenderResult, dict[str, pyvips.Image]]:
    result = render(src, spec, dest_in(directory))
    return result, {r.name: pyvips.Image.new_from_file(str(r.path)) for r in result.renditions}


def pixel(image: pyvips.Image, x: int, y: int) -> list[int]:
    return [round(v) for v in image.getpoint(x, y)]


def near(actual: list[int], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return len(actual) == len(expected) and all(
        abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)
    )


def assert_no_metadata(path: Path) -> None:
    data = path.read_bytes()
    for marker in LEAK_MARKERS:
        assert marker not in data, f"{path.name} leaks {marker!r}"
    fields = pyvips.Image.new_from_file(str(path)).get_fields()
    assert not [f for f in fields if f.startswith(METADATA_FIELD_PREFIXES)], f"{path.name}: {fields}"
    with Image.open(path, formats=["JPEG", "PNG", "WEBP"]) as pil:
        assert not pil.getexif(), f"{path.name} has EXIF"
        assert not {"exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"} & set(pil.info), pil.info


# --- probe ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (corpus.jpeg(64, 48), ("jpeg", 64, 48, 1, 3, "srgb", 8)),
        (corpus.png(50, 20, mode="RGB", bits=16), ("png", 50, 20, 1, 3, "rgb16", 16)),
        (corpus.png(50, 20, mode="LA"), ("png", 50, 20, 1, 2, "b-w", 8)),
        (corpus.cmyk_jpeg(32, 16), ("jpeg", 32, 16, 1, 4, "cmyk", 8)),
        (corpus.animated_gif(40, 30), ("gif", 40, 30, 3, 4, "srgb", 8)),
        (corpus.webp(30, 20), ("webp", 30, 20, 1, 3, "srgb", 8)),
        (corpus.exif_orientation6_gps_jpeg(), ("jpeg", 60, 120, 1, 3, "srgb", 8)),  # displayed size
    ],
    ids=["jpeg", "png16", "grey-alpha", "cmyk", "animated-gif", "webp", "orientation6"],
)
def test_probe_reports_the_header(
    upload: Callable[[bytes], Path], data: bytes, expected: tuple[object, ...]
) -> None:
    header = probe(upload(data), max_pixels=MAX_PIXELS)
    got = (header.format, header.width, header.height, header.pages, header.bands, header.interpretation)
    assert (*got, header.bits_per_sample) == expected


@pytest.mark.parametrize(
    ("data", "size"),
    [(corpus.pixel_flood_png(), "100000x100000"), (corpus.decompression_bomb_gif(), "30000x30000")],
    ids=["png-header-flood", "gif-logical-screen-bomb"],
)
def test_probe_rejects_pixel_floods_from_the_header(
    upload: Callable[[bytes], Path], data: bytes, size: str
) -> None:
    # Both files hold almost no pixel data: a decode would fail as corrupt, so this reason proves the
    # count was taken from the header before any decode.
    with pytest.raises(ImageRejected, match=f"^pixel flood: {size} "):
        probe(upload(data), max_pixels=MAX_PIXELS)


def test_the_pixel_limit_is_the_specs(upload: Callable[[bytes], Path], public: Path) -> None:
    src = upload(corpus.jpeg(64, 48))
    with pytest.raises(ImageRejected, match=r"^pixel flood: 64x48 "):
        render(src, make_spec(max_pixels=64 * 48 - 1), dest_in(public))
    assert render(src, make_spec(max_pixels=64 * 48), dest_in(public)).width == 64


@pytest.mark.parametrize(
    "make",
    [
        corpus.svg_with_script,
        corpus.html_page,
        corpus.zip_archive,
        corpus.mp4_minimal,
        corpus.webm_minimal,
        corpus.eicar,
        corpus.tiff,
    ],
)
def test_probe_rejects_what_no_allowed_loader_reads(
    upload: Callable[[bytes], Path], make: Callable[[], bytes]
) -> None:
    src = upload(make())
    with pytest.raises(ImageRejected, match=r"^not an allowed image \(jpeg, png, gif, webp\): ") as caught:
        probe(src, max_pixels=MAX_PIXELS)
    assert str(src) not in str(caught.value)  # reasons may reach the uploader: no server paths


def test_svg_and_tiff_are_refused_by_the_loader_block_not_by_absence() -> None:
    # This libvips has both loaders; only the block set at import keeps them from running.
    assert pyvips.type_find("VipsForeignLoad", "svgload") != 0
    assert pyvips.type_find("VipsForeignLoad", "tiffload") != 0
    with pytest.raises(pyvips.Error, match="not in a known format"):
        pyvips.Image.new_from_buffer(corpus.tiff(), "")


def test_eicar_is_the_standard_test_file() -> None:
    import hashlib

    data = corpus.eicar()
    assert len(data) == 68
    assert hashlib.md5(data).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"


# --- rejection inside render ----------------------------------------------------------------------------


def test_truncated_jpeg_is_rejected_and_leaves_nothing(upload: Callable[[bytes], Path], public: Path) -> None:
    src = upload(corpus.truncated_jpeg())
    probe(src, max_pixels=MAX_PIXELS)  # the header alone looks fine
    with pytest.raises(ImageRejected, match=r"^corrupt image: .*premature end"):
        render(src, make_spec(webp=True), dest_in(public))
    assert not public.exists() or not list(public.iterdir())


# --- renditions -----------------------------------------------------------------------------------------


def test_exif_orientation_is_applied_then_all_metadata_stripped(
    upload: Callable[[bytes], Path], public: Path
) -> None:
    result, images = rendered(upload(corpus.exif_orientation6_gps_jpeg()), make_spec(webp=True), public)

    assert (result.width, result.height) == (60, 120)
    master = images["master"]
    assert (master.width, master.height) == (60, 120)
    marker = corpus.ORIENTATION6_MARKER_PX
    assert near(pixel(master, 60 - marker // 2, marker // 2), corpus.RED, 30)  # stored top-left → top-right
    assert near(pixel(master, marker // 2, marker // 2), corpus.GREY)
    assert near(pixel(master, 60 - marker // 2, 120 - marker // 2), corpus.GREY)
    assert (images["small"].width, images["small"].height) == (15, 30)
    assert len(result.renditions) == 6
    for rendition in result.renditions:
        assert_no_metadata(rendition.path)


def test_cmyk_becomes_8_bit_srgb(upload: Callable[[bytes], Path], public: Path) -> None:
    _, images = rendered(upload(corpus.cmyk_jpeg()), make_spec(), public)
    for image in images.values():
        assert (image.bands, image.interpretation, image.format) == (3, "srgb", "uchar")
    r, g, b = pixel(images["master"], 10, 10)
    assert r > 200 and g < 80 and b < 80  # process red stays red


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_16_bit_png_becomes_8_bit(upload: Callable[[bytes], Path], public: Path, mode: str) -> None:
    colour = (200, 100, 50) if mode == "RGB" else (150, 150, 150)
    result, images = rendered(
        upload(corpus.png(64, 48, mode=mode, bits=16, color=colour)), make_spec(), public
    )
    assert result.renditions[0].mime == "image/jpeg"
    for image in images.values():
        assert (image.bands, image.interpretation, image.format) == (3, "srgb", "uchar")
    assert near(pixel(images["master"], 30, 20), colour, 3)


@pytest.mark.parametrize("bits", [8, 16])
def test_grey_with_alpha_becomes_srgb_png_keeping_transparency(
    upload: Callable[[bytes], Path], public: Path, bits: int
) -> None:
    src = upload(corpus.png(64, 48, mode="LA", bits=bits, color=corpus.GREY, alpha=128))
    result, images = rendered(src, make_spec(webp=True), public)
    mimes = {r.name: r.mime for r in result.renditions}
    assert mimes == {n: "image/webp" if n.endswith("_webp") else "image/png" for n in mimes}
    for image in images.values():
        assert (image.bands, image.interpretation, image.format) == (4, "srgb", "uchar")
    assert near(pixel(images["master"], 30, 20), (128, 128, 128, 128), 2)


def test_opaque_alpha_is_dropped_and_palette_expanded(upload: Callable[[bytes], Path], public: Path) -> None:
    for i, data in enumerate([corpus.png(mode="RGBA", alpha=255), corpus.png(mode="P", color=(10, 200, 30))]):
        result, images = rendered(upload(data), make_spec(), public / str(i))
        assert result.renditions[0].mime == "image/jpeg"
        assert images["master"].bands == 3
    assert near(pixel(images["master"], 5, 5), (10, 200, 30), 4)


def test_animated_gif_renders_its_first_frame_only(upload: Callable[[bytes], Path], public: Path) -> None:
    src = upload(corpus.animated_gif(colours=(corpus.RED, corpus.GREEN, corpus.BLUE)))
    assert probe(src, max_pixels=MAX_PIXELS).pages == 3
    result, images = rendered(src, make_spec(webp=True), public)
    for rendition in result.renditions:
        image = images[rendition.name]
        assert near(pixel(image, image.width // 2, image.height // 2), corpus.RED, 8), rendition.name
        if rendition.mime == "image/webp":  # the one output format that could carry an animation
            assert pyvips.Image.new_from_file(str(rendition.path), n=-1).height == rendition.height


def test_thumbnails_fit_inside_their_boxes_and_never_upscale(
    upload: Callable[[bytes], Path], public: Path
) -> None:
    sizes = {"big": (300, 300), "same": (200, 100), "small": (50, 50), "wide": (150, 20), "tall": (20, 150)}
    result, images = rendered(upload(corpus.jpeg(200, 100)), make_spec(thumbnail_sizes=sizes), public)
    got = {r.name: (r.width, r.height) for r in result.renditions}
    assert got == {
        "master": (200, 100),
        "big": (200, 100),
        "same": (200, 100),
        "small": (50, 25),
        "wide": (40, 20),
        "tall": (20, 10),
    }
    assert {name: (image.width, image.height) for name, image in images.items()} == got


def test_product_sizes_on_a_large_photo(upload: Callable[[bytes], Path], public: Path) -> None:
    result, _ = rendered(
        upload(corpus.jpeg(1600, 1000, noise=True)), make_spec(thumbnail_sizes=PRODUCT_SIZES), public
    )
    got = {r.name: (r.width, r.height) for r in result.renditions}
    assert got == {
        "master": (1600, 1000),
        "thumbnail": (100, 62),
        "small": (300, 188),
        "medium": (600, 375),
        "large": (1200, 750),
    }


def test_webp_variants_exist_only_when_asked(upload: Callable[[bytes], Path], public: Path) -> None:
    src = upload(corpus.webp(120, 80, noise=True))
    without, _ = rendered(src, make_spec(), public / "plain")
    assert [r.name for r in without.renditions] == ["master", "small", "medium"]

    result, images = rendered(src, make_spec(webp=True), public / "webp")
    names = [r.name for r in result.renditions]
    assert names == ["master", "master_webp", "small", "small_webp", "medium", "medium_webp"]
    for rendition in result.renditions:
        assert rendition.path.suffix == (".webp" if rendition.name.endswith("_webp") else ".jpg")
        assert images[rendition.name].get("vips-loader") == (
            "webpload" if rendition.mime == "image/webp" else "jpegload"
        )
    for name in ("master", "small", "medium"):
        webp_variant = images[f"{name}_webp"]
        assert (images[name].width, images[name].height) == (webp_variant.width, webp_variant.height)


@pytest.mark.parametrize(
    ("data", "compress", "mime"),
    [
        (corpus.jpeg(), True, "image/jpeg"),
        (corpus.jpeg(), False, "image/jpeg"),
        (corpus.png(), True, "image/jpeg"),
        (corpus.png(), False, "image/png"),
        (corpus.animated_gif(), False, "image/png"),
        (corpus.webp(), False, "image/jpeg"),
        (corpus.png(mode="RGBA", alpha=0), True, "image/png"),
    ],
    ids=[
        "jpeg",
        "jpeg-uncompressed",
        "png",
        "png-uncompressed",
        "gif-uncompressed",
        "webp-uncompressed",
        "alpha",
    ],
)
def test_master_format(
    upload: Callable[[bytes], Path], public: Path, data: bytes, compress: bool, mime: str
) -> None:
    master = render(upload(data), make_spec(compress=compress), dest_in(public)).renditions[0]
    suffix = ".png" if mime == "image/png" else ".jpg"
    assert (master.name, master.mime, master.path.suffix) == ("master", mime, suffix)


def test_dominant_colours_of_a_two_colour_image(upload: Callable[[bytes], Path], public: Path) -> None:
    result = render(upload(corpus.two_colour_png(left_cols=70)), make_spec(), dest_in(public))
    assert result.dominant_colors == ["#ff0000", "#0000ff"]


def test_dominant_colours_ignore_transparent_pixels(upload: Callable[[bytes], Path], public: Path) -> None:
    result = render(upload(corpus.png(mode="RGBA", color=corpus.BLUE, alpha=0)), make_spec(), dest_in(public))
    assert result.dominant_colors == []


def test_watermark_marks_the_bottom_right_of_large_renditions_only(
    upload: Callable[[bytes], Path], public: Path
) -> None:
    src = upload(corpus.png(400, 300, color=corpus.GREY))
    sizes = {"tiny": (100, 100)}
    _, plain = rendered(src, make_spec(compress=False, thumbnail_sizes=sizes), public / "plain")
    _, marked = rendered(
        src, make_spec(compress=False, thumbnail_sizes=sizes, watermark_text="© Skincare"), public / "marked"
    )
    master, before = marked["master"], plain["master"]
    assert (master.width, master.height) == (400, 300)
    assert master.crop(0, 0, 200, 150).avg() == before.crop(0, 0, 200, 150).avg()  # untouched
    corner = master.crop(200, 240, 200, 60)
    assert corner.max() > 170 and corner.min() < 100  # white text over a dark shadow on grey
    assert (marked["tiny"] == plain["tiny"]).min() == 255  # too small to carry legible text


def test_jpeg_php_polyglot_comes_out_as_a_clean_image(upload: Callable[[bytes], Path], public: Path) -> None:
    result, images = rendered(upload(corpus.jpeg_php_polyglot()), make_spec(webp=True), public)
    assert (images["master"].width, images["master"].height) == (48, 32)
    for rendition in result.renditions:
        assert_no_metadata(rendition.path)


def test_render_is_idempotent_and_leaves_no_temporary_files(
    upload: Callable[[bytes], Path], public: Path
) -> None:
    src = upload(corpus.exif_orientation6_gps_jpeg())
    spec = make_spec(webp=True, watermark_text="© Skincare", thumbnail_sizes=PRODUCT_SIZES)
    first = render(src, spec, dest_in(public))
    contents = {p.name: p.read_bytes() for p in public.iterdir()}
    second = render(src, spec, dest_in(public))

    assert second == first
    assert {p.name: p.read_bytes() for p in public.iterdir()} == contents
    assert sorted(contents) == sorted(r.path.name for r in first.renditions)  # nothing else, no temp files
    for rendition in first.renditions:
        assert rendition.path.parent == public
        assert stat.S_IMODE(os.stat(rendition.path).st_mode) == 0o644


def test_spec_is_validated() -> None:
    with pytest.raises(ValueError, match="quality"):
        make_spec(quality=0)
    with pytest.raises(ValueError, match="not a valid rendition name"):
        make_spec(thumbnail_sizes={"master": (10, 10)})
    with pytest.raises(ValueError, match="not a valid rendition name"):
        make_spec(thumbnail_sizes={"../x": (10, 10)})
    with pytest.raises(ValueError, match="empty box"):
        make_spec(thumbnail_sizes={"small": (0, 10)})
