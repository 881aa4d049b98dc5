"""Thumbnail benchmark: our full ``render()`` step against bare pyvips and Pillow best practice.

    PYTHONPATH=. python bench/thumbnails.py [--runs 5]

Inputs are generated at run time (photo-like gradients with grain): a 12 MP JPEG (4000x3000), the same
with EXIF orientation 6 (a portrait phone photo: the master must be rotated), a 9 MP WebP and a 2 MP PNG.
Every variant makes the "product" context's outputs (master at quality 80 plus thumbnail 100, small 300,
medium 600, large 1200, all JPEG quality 80, no metadata). Per input, each variant runs in its own fresh
subprocess: one warm-up, then ``--runs`` timed runs driven in rounds across the variants; the median is
reported, and the child's peak RSS comes from ``os.wait4``. The libvips operation cache is off in every
child, as in the worker, so repeated runs on one file measure real decodes.

Variants:
  render              the full step: workers.uploads.imaging.render (probe, decode, master, thumbnails,
                      dominant colours, staged atomic writes)
  render_master_only  the same with no thumbnail sizes: render minus it is what thumbnails cost us
  bare_memory         bare pyvips, decode once into memory, master and chained thumbnails from it
  bare_sequential     bare pyvips, streamed master, thumbnails from one shrink-on-load decode, chained
  pyvips_thumbs       bare pyvips thumbnails only: one shrink-on-load decode, sizes chained
  pillow_thumbs       Pillow thumbnails only: draft mode + reduce (Image.thumbnail), sizes chained

Goals printed against: full step within 1.25x the fastest bare pyvips; thumbnails at least 1.4x faster
than Pillow; peak RSS under 300 MB on the 12 MP input. Nothing is asserted: numbers are for people.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZES = {"thumbnail": (100, 100), "small": (300, 300), "medium": (600, 600), "large": (1200, 1200)}
QUALITY = 80
MAX_PIXELS = 50_000_000
INPUTS = {
    "12mp.jpg": (4000, 3000),
    "12mp-rot.jpg": (4000, 3000),
    "9mp.webp": (3464, 2598),
    "2mp.png": (1633, 1225),
}
VARIANTS = (
    "render",
    "render_master_only",
    "bare_memory",
    "bare_sequential",
    "pyvips_thumbs",
    "pillow_thumbs",
)
GOAL_STEP_VS_BARE = 1.25
GOAL_PILLOW_VS_OURS = 1.4
GOAL_RSS_MB = 300


# --- variants (run inside a child) ----------------------------------------------------------------------


def _render(src: Path, out: Path, sizes: dict[str, tuple[int, int]]) -> None:
    from workers.uploads.imaging import ImageSpec, render

    spec = ImageSpec(sizes, QUALITY, compress=True, webp=False, watermark_text=None, max_pixels=MAX_PIXELS)
    render(src, spec, lambda name, ext: out / f"render_{name}.{ext}")


def _bare_chain(first: Any, out: Path, prefix: str) -> None:
    """Save ``first`` (the largest thumbnail) and shrink each smaller size from the previous one."""
    import pyvips

    keep = pyvips.enums.ForeignKeep.NONE
    current = first
    for name, (width, height) in sorted(SIZES.items(), key=lambda item: -item[1][0]):
        if current is not first:
            current = current.thumbnail_image(width, height=height, size="down")
        current = current.copy_memory()
        current.jpegsave(str(out / f"{prefix}_{name}.jpg"), Q=QUALITY, keep=keep)


def bare_memory(src: Path, out: Path) -> None:
    import pyvips

    image = pyvips.Image.new_from_file(str(src), access="sequential", fail_on="warning").copy_memory()
    image = image.autorot()
    image.jpegsave(str(out / "bare_master.jpg"), Q=QUALITY, keep=pyvips.enums.ForeignKeep.NONE)
    _bare_chain(image.thumbnail_image(1200, height=1200, size="down"), out, "bare")


def bare_sequential(src: Path, out: Path) -> None:
    import pyvips

    image = pyvips.Image.new_from_file(str(src), access="sequential", fail_on="warning")
    if image.get_typeof("orientation") and image.get("orientation") != 1:
        image = pyvips.Image.new_from_file(str(src), fail_on="warning").autorot()  # rotating reads randomly
    image.jpegsave(str(out / "seq_master.jpg"), Q=QUALITY, keep=pyvips.enums.ForeignKeep.NONE)
    _bare_chain(
        pyvips.Image.thumbnail(str(src), 1200, height=1200, size="down", fail_on="warning"), out, "seq"
    )


def pyvips_thumbs(src: Path, out: Path) -> None:
    import pyvips

    _bare_chain(
        pyvips.Image.thumbnail(str(src), 1200, height=1200, size="down", fail_on="warning"), out, "vt"
    )


def pillow_thumbs(src: Path, out: Path) -> None:
    from PIL import Image, ImageOps

    with Image.open(src, formats=["JPEG", "PNG", "WEBP"]) as opened:
        opened.draft("RGB", SIZES["large"])  # JPEG DCT scaling; thumbnail() would do it too
        current = ImageOps.exif_transpose(opened).convert("RGB")
    for name, box in sorted(SIZES.items(), key=lambda item: -item[1][0]):
        current.thumbnail(box)  # reduce() by an integer factor, then resample (reducing_gap=2.0)
        current.save(out / f"pil_{name}.jpg", "JPEG", quality=QUALITY)


RUNNERS: dict[str, Callable[[Path, Path], None]] = {
    "render": lambda src, out: _render(src, out, SIZES),
    "render_master_only": lambda src, out: _render(src, out, {}),
    "bare_memory": bare_memory,
    "bare_sequential": bare_sequential,
    "pyvips_thumbs": pyvips_thumbs,
    "pillow_thumbs": pillow_thumbs,
}


def child(variant: str, src: Path) -> None:
    """Warm up, say "ready", then time one run per "run" line on stdin until stdin closes."""
    import pyvips

    pyvips.cache_set_max(0)
    run = RUNNERS[variant]
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        run(src, Path(out))  # warm-up: thread pool, codec tables, imports
        print("ready", flush=True)
        for _ in sys.stdin:
            start = time.perf_counter()
            run(src, Path(out))
            print(time.perf_counter() - start, flush=True)


# --- parent ---------------------------------------------------------------------------------------------


def make_inputs(directory: Path) -> None:
    """Photo-like images: smooth colour gradients with fine grain, so codecs have real work to do."""
    import pyvips

    for name, (width, height) in INPUTS.items():
        xyz = pyvips.Image.xyz(width, height)
        x, y = xyz[0], xyz[1]
        gradient = (x * (255.0 / width)).bandjoin(
            [y * (255.0 / height), (x + y) * (255.0 / (width + height))]
        )
        grain = pyvips.Image.gaussnoise(width, height, sigma=30).gaussblur(0.7)
        image = (
            (gradient * 0.8 + grain.bandjoin([grain, grain]) * 0.5).cast("uchar").copy(interpretation="srgb")
        )
        path = directory / name
        if name.endswith(".jpg"):
            data = image.jpegsave_buffer(Q=90)
            if "rot" in name:
                data = _with_orientation(data, 6)
            path.write_bytes(data)
        elif name.endswith(".webp"):
            image.webpsave(str(path), Q=85)
        else:
            image.pngsave(str(path))


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 EXIF segment holding only ``orientation``, right after the SOI marker."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()  # starts with b"Exif\0\0"
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def measure(src: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Per variant: median seconds and the peak RSS (MB) of its own child process on ``src``.

    One child per variant, all alive at once and driven in rounds, so a burst of load elsewhere on the
    machine hits every variant alike instead of skewing one of them.
    """
    children = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--child", variant, str(src)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{variant} on {src.name} failed to start")
        children[variant] = proc
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(runs):
        for variant, proc in children.items():
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("run\n")
            proc.stdin.flush()
            seconds[variant].append(float(proc.stdout.readline()))
    results = {}
    for variant, proc in children.items():
        assert proc.stdin is not None
        proc.stdin.close()
        # wait4 gives this child's own rusage; the parent never imports an image library, so the
        # peak it reports is not inflated by memory inherited at fork.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{variant} on {src.name} exited with {proc.returncode}")
        results[variant] = (statistics.median(seconds[variant]), usage.ru_maxrss / 1024)  # KiB on Linux
    return results


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": _pythonpath()}


def _pythonpath() -> str:
    repo = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per variant and input (median)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "SRC"), help=argparse.SUPPRESS)
    parser.add_argument("--make-inputs", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.make_inputs:
        make_inputs(Path(args.make_inputs))
        return

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-thumbnails-") as tmp:
        subprocess.run([sys.executable, __file__, "--make-inputs", tmp], check=True, env=_env())
        print(f"inputs generated in {time.perf_counter() - started:.1f} s; {args.runs} runs per variant\n")
        print(f"{'input':12} {'variant':20} {'median ms':>10} {'peak RSS MB':>12}")
        results: dict[str, dict[str, tuple[float, float]]] = {}
        for name in INPUTS:
            results[name] = measure(Path(tmp) / name, args.runs)
            for variant, (median, rss_mb) in results[name].items():
                print(f"{name:12} {variant:20} {median * 1000:10.1f} {rss_mb:12.0f}")
            print(flush=True)

    print(
        f"{'ratios':12} {'step / bare pyvips':>19} {'Pillow / our thumbs':>20} {'Pillow / vips thumbs':>21}"
        f" {'our thumbs ms':>14}"
    )
    print(f"{'(goal)':12} {f'<= {GOAL_STEP_VS_BARE}':>19} {f'>= {GOAL_PILLOW_VS_OURS}':>20}")
    for name, r in results.items():
        step = r["render"][0]
        bare = min(r["bare_memory"][0], r["bare_sequential"][0])
        our_thumbs = max(step - r["render_master_only"][0], 1e-6)  # what adding the thumbnails costs us
        pillow = r["pillow_thumbs"][0]
        step_ratio, pillow_ratio = step / bare, pillow / our_thumbs
        step_cell = f"{step_ratio:.2f}x {_verdict(step_ratio <= GOAL_STEP_VS_BARE)}"
        pillow_cell = f"{pillow_ratio:.2f}x {_verdict(pillow_ratio >= GOAL_PILLOW_VS_OURS)}"
        vips_cell = f"{pillow / r['pyvips_thumbs'][0]:.2f}x"
        print(f"{name:12} {step_cell:>19} {pillow_cell:>20} {vips_cell:>21} {our_thumbs * 1000:14.1f}")
    print()
    for name in ("12mp.jpg", "12mp-rot.jpg"):
        rss = results[name]["render"][1]
        verdict = _verdict(rss < GOAL_RSS_MB)
        print(f"peak RSS of the full step on {name}: {rss:.0f} MB (goal < {GOAL_RSS_MB}) {verdict}")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


if __name__ == "__main__":
    main()
