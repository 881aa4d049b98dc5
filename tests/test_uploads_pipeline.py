"""Uploads end to end: the real ingest API, the real worker process and the real clamd.

Each upload is checked by what the system leaves behind: the row, the files under STORAGE_ROOT
(walked before and after), the user's counters, the moderation queue and the recorded
notification job.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips
from sqlalchemy import select

from storage.db import session_scope
from storage.models import (
    FileUploadConfig,
    Job,
    JobState,
    MediaType,
    ModerationQueue,
    UploadedFile,
)
from tests import corpus
from tests.clamav import SIGNATURE_NAME, ClamdService
from tests.conftest import SECRETS, WorkerProcess, wait_for_job
from tests.test_uploads_validation import counters, new_user, reload_file
from workers import jobs
from workers.settings import get_settings

#: A context with small limits for the edge cases (the seed's contexts need at least 100 px).
TEST_CONTEXT = "test_small"
TEST_MAX_BYTES = 100_000


@pytest.fixture(scope="module", autouse=True)
def small_context() -> None:
    with session_scope() as session:
        if session.scalar(select(FileUploadConfig).where(FileUploadConfig.context == TEST_CONTEXT)):
            return
        session.add(
            FileUploadConfig(
                context=TEST_CONTEXT,
                max_file_size=TEST_MAX_BYTES,
                allowed_mime_types=["image/jpeg", "image/png", "image/webp"],
                allowed_extensions=["jpg", "jpeg", "png", "webp"],
                max_width=2000,
                max_height=2000,
                thumbnail_sizes={"small": [40, 40]},
                convert_to_webp=True,
                storage_path="uploads/test/",
                require_virus_scan=True,
            )
        )


def _post(
    api: Any,
    content: bytes,
    *,
    user_id: int,
    context: str = "review",
    filename: str = "photo.jpg",
    secret: str = SECRETS[-1],
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    """A signed multipart upload built the way a client library sends it (fields, then the file)."""
    from queues import signing

    request = api.build_request(
        "POST",
        "/v1/uploads",
        data={"context": context, "user_id": str(user_id), **fields},
        files={"file": (filename, content, "image/jpeg")},
        headers=headers or {},
    )
    body = request.read()
    request.headers[signing.HEADER] = signing.sign(secret, body)
    return api.send(request)


def _files() -> set[str]:
    root = get_settings().files_root
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _upload(api: Any, content: bytes, **kw: Any) -> dict[str, Any]:
    """Upload, wait until the pipeline is done with the file, and return its view."""
    response = _post(api, content, **kw)
    assert response.status_code == 202, response.text
    return _settle(api, response.json())


def _settle(api: Any, accepted: dict[str, Any]) -> dict[str, Any]:
    """Wait for the process job (and the render job it queued) to finish; the file's view."""
    view = wait_for_job(api, accepted["job_id"])
    assert view["state"] == "succeeded", view
    render = (view["result"] or {}).get("render_job_id")
    if render:
        rendered = wait_for_job(api, render)
        assert rendered["state"] == "succeeded", rendered
    file_view = api.get(accepted["status_url"]).json()
    assert file_view["file_id"] == accepted["file_id"]
    return dict(file_view)


def _notification(file_id: int) -> dict[str, Any]:
    with session_scope() as session:
        job = session.scalar(select(Job).where(Job.idempotency_key == f"notify:file_processed:{file_id}"))
    assert job is not None and job.kind == "notifications.fanout"
    return dict(job.payload["event"])


def _public_path(url: str) -> Path:
    return get_settings().files_root / "public" / url.removeprefix(get_settings().public_base_url + "/")


def _is_red(image: pyvips.Image) -> bool:
    stats = image.stats()  # row 1 + band: that band's statistics; column 4: the mean
    return bool(stats(4, 1)[0] > 200 and stats(4, 2)[0] < 60 and stats(4, 3)[0] < 60)


def _metadata_fields(path: Path) -> set[str]:
    image = pyvips.Image.new_from_file(str(path))
    return {f for f in image.get_fields() if f.startswith(("exif", "xmp", "iptc", "icc", "jpeg-comment"))}


@pytest.fixture()
def walk() -> Iterator[Callable[[], set[str]]]:
    """The files that appeared under STORAGE_ROOT since the test began."""
    before = _files()
    yield lambda: _files() - before


# -- accepted ----------------------------------------------------------------------------------------


def test_a_normal_photo_comes_back_active_with_clean_thumbnails(
    api: Any, worker: WorkerProcess, walk: Callable[[], set[str]]
) -> None:
    user = new_user()
    data = corpus.jpeg(1600, 1200, noise=True, color=corpus.GREEN)
    view = _upload(api, data, user_id=user, filename="holiday.jpg")
    assert view["status"] == "active", view
    assert view["virus_scan_status"] == "clean" and view["processing_error"] is None
    assert (view["width"], view["height"], view["mime_type"]) == (1600, 1200, "image/jpeg")
    assert set(view["thumbnails"]) == {"thumbnail", "small", "medium"}
    published = {view["file_url"], *view["thumbnails"].values()}
    for url in published:
        path = _public_path(url)
        assert path.is_file() and _metadata_fields(path) == set(), url
    assert pyvips.Image.new_from_file(str(_public_path(view["thumbnails"]["small"]))).width == 400
    assert walk() == {str(_public_path(url).relative_to(get_settings().files_root)) for url in published}
    assert view["dominant_colors"] and len(view["dominant_colors"]) <= 3
    row = reload_file(view["file_id"])
    assert row.content_hash == hashlib.sha256(data).hexdigest() and row.is_processed
    assert row.original_filename == "holiday.jpg" and "holiday" not in row.file_path
    assert counters(user) == (len(data), 1)
    assert _notification(view["file_id"]) == {
        "type": "file_processed",
        "event_id": f"file_processed:{view['file_id']}",
        "user_id": user,
        "file_id": view["file_id"],
        "outcome": "active",
    }
    # EXIF orientation 6 with GPS: rotated upright, every trace of the metadata gone.
    oriented = _upload(api, corpus.exif_orientation6_gps_jpeg(), user_id=user, context=TEST_CONTEXT)
    assert oriented["status"] == "active", oriented
    assert (oriented["width"], oriented["height"]) == (60, 120)
    master = pyvips.Image.new_from_file(str(_public_path(oriented["file_url"])))
    assert (master.width, master.height) == (60, 120)
    assert _is_red(master.crop(60 - 10, 0, 10, 10))  # the red marker ends up at the top right
    assert set(oriented["thumbnails"]) == {"small", "small_webp", "master_webp"}
    for url in (oriented["file_url"], *oriented["thumbnails"].values()):
        assert _metadata_fields(_public_path(url)) == set(), url
        assert b"CorpusCam" not in _public_path(url).read_bytes()


@pytest.mark.parametrize(
    ("make", "context", "check"),
    [
        # Named .jpg, detected as PNG; with real transparency it stays PNG.
        (lambda: corpus.png(400, 300, mode="RGBA"), "review", lambda v, m: v["file_extension"] == "png"),
        # The first frame of an animation, as a still.
        (
            lambda: corpus.animated_gif(120, 120),
            "profile",
            lambda v, m: v["mime_type"] == "image/jpeg" and _is_red(m),
        ),
        # CMYK and 16-bit PNG become 8-bit sRGB.
        (
            lambda: corpus.cmyk_jpeg(400, 300),
            "review",
            lambda v, m: (m.interpretation, m.format, m.bands) == ("srgb", "uchar", 3),
        ),
        (
            lambda: corpus.png(400, 300, bits=16),
            "review",
            lambda v, m: (m.interpretation, m.format) == ("srgb", "uchar"),
        ),
    ],
    ids=["png-named-jpg", "animated-gif", "cmyk-jpeg", "16-bit-png"],
)
def test_odd_but_honest_images_are_normalised(
    api: Any, worker: WorkerProcess, make: Callable[[], bytes], context: str, check: Callable[..., bool]
) -> None:
    view = _upload(api, make(), user_id=new_user(), context=context)
    assert view["status"] == "active", view
    master = pyvips.Image.new_from_file(str(_public_path(view["file_url"])), access="sequential")
    assert check(view, master), view


def test_hostile_filenames_never_reach_a_path(api: Any, worker: WorkerProcess) -> None:
    for name in ("../../../../etc/cron.d/evil.jpg", "ü" * 300 + ".jpg", "..\\..\\win.ini"):
        view = _upload(api, corpus.jpeg(400, 300), user_id=new_user(), filename=name)
        assert view["status"] == "active", view
        row = reload_file(view["file_id"])
        assert "/" not in row.original_filename and "\\" not in row.original_filename
        assert len(row.original_filename) <= 255
        assert "evil" not in row.file_path and "ü" not in row.file_path and "win" not in row.file_path
    assert not any("evil" in f or "ü" in f or "win.ini" in f for f in _files())


@pytest.mark.parametrize(("make", "extension"), [(corpus.mp4_minimal, "mp4"), (corpus.webm_minimal, "webm")])
def test_videos_are_checked_scanned_and_stored_as_they_came(
    api: Any, worker: WorkerProcess, make: Callable[[], bytes], extension: str
) -> None:
    data = make()
    view = _upload(api, data, user_id=new_user(), context="product", filename="clip.mov")
    assert view["status"] == "active", view
    assert (view["media_type"], view["file_extension"], view["virus_scan_status"]) == (
        "video",
        extension,
        "clean",
    )
    assert view["file_url"].endswith(f"_original.{extension}") and view["thumbnails"] is None
    assert _public_path(view["file_url"]).read_bytes() == data


def test_a_context_without_virus_scan_is_marked_skipped(api: Any, worker: WorkerProcess) -> None:
    view = _upload(api, corpus.jpeg(300, 300), user_id=new_user(), context="qa")
    assert (view["status"], view["virus_scan_status"]) == ("active", "skipped")


def test_files_written_by_the_shop_go_through_the_same_pipeline(api: Any, worker: WorkerProcess) -> None:
    data = corpus.webp(500, 400, noise=True)
    key = f"incoming/shop-{uuid.uuid4().hex}"
    path = get_settings().files_root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    user = new_user()
    with session_scope() as session:
        row = UploadedFile(
            filename="shop.webp",
            original_filename="shop.webp",
            file_path=key,
            file_url="",
            file_size=len(data),
            mime_type="image/webp",
            file_extension="webp",
            media_type=MediaType.image,
            uploaded_by=user,
            upload_context="progress",
        )
        session.add(row)
        session.flush()
        file_id = row.id
    job, _ = jobs.enqueue("uploads.process", {"file_id": file_id})
    result = wait_for_job(api, str(job.id))["result"]
    wait_for_job(api, result["render_job_id"])
    view = api.get(f"/v1/files/{file_id}").json()
    assert view["status"] == "active" and view["width"] == 500, view
    assert not path.exists()
    assert counters(user) == (len(data), 1)


# -- refused -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "context", "filename", "reason"),
    [
        (lambda: corpus.truncated_jpeg(400, 300), "review", "photo.jpg", "truncated: "),
        (corpus.pixel_flood_png, "product", "photo.png", "pixel flood: "),
        (corpus.decompression_bomb_gif, "product", "photo.gif", "pixel flood: "),
        (corpus.svg_with_script, "product", "photo.jpg", "file type: SVG"),
        (corpus.html_page, "review", "photo.jpg", "file type: this is an HTML document"),
        (corpus.jpeg_php_polyglot, "review", "photo.jpg", "polyglot: the JPEG file carries PHP code"),
        (corpus.zip_archive, "review", "photo.png", "file type: this is a ZIP archive"),
        (lambda: corpus.jpeg(299, 300), "review", "photo.jpg", "min_width: 299 px"),
        (lambda: corpus.jpeg(400, 299), "review", "photo.jpg", "min_height: 299 px"),
        (lambda: corpus.animated_gif(400, 400), "review", "photo.gif", "allowed_mime_types: image/gif"),
        (corpus.mp4_minimal, "review", "clip.mp4", "allowed_mime_types: video/mp4"),
        (corpus.tiff, "product", "photo.tif", "file type: this is a TIFF image"),
    ],
    ids=[
        "truncated-jpeg",
        "pixel-flood-png",
        "decompression-bomb-gif",
        "svg-with-script",
        "html-named-jpg",
        "jpeg-php-polyglot",
        "zip-named-png",
        "one-pixel-under-min-width",
        "one-pixel-under-min-height",
        "gif-where-not-allowed",
        "video-where-not-allowed",
        "tiff",
    ],
)
def test_hostile_files_are_refused_for_the_right_reason_and_leave_nothing(
    api: Any,
    worker: WorkerProcess,
    walk: Callable[[], set[str]],
    make: Callable[[], bytes],
    context: str,
    filename: str,
    reason: str,
) -> None:
    user = new_user()
    view = _upload(api, make(), user_id=user, context=context, filename=filename)
    assert view["status"] == "failed", view
    assert view["processing_error"].startswith(reason), view
    assert view["file_url"] is None and view["thumbnails"] is None
    assert walk() == set()
    assert counters(user) == (0, 0)
    event = _notification(view["file_id"])
    assert (event["outcome"], event["reason"], event["user_id"]) == ("failed", view["processing_error"], user)


def test_eicar_named_jpg_is_caught_by_clamd_and_quarantined(
    api: Any, worker: WorkerProcess, walk: Callable[[], set[str]]
) -> None:
    user = new_user()
    view = _upload(api, corpus.eicar(), user_id=user, filename="selfie.jpg")
    file_id = view["file_id"]
    assert (view["status"], view["virus_scan_status"]) == ("failed", "infected"), view
    assert view["virus_scan_result"].startswith(SIGNATURE_NAME)
    assert view["processing_error"].startswith("virus scan: infected with " + SIGNATURE_NAME)
    assert view["file_url"] is None
    assert walk() == {f"quarantine/file-{file_id}"}
    assert (get_settings().files_root / f"quarantine/file-{file_id}").read_bytes() == corpus.eicar()
    row = reload_file(file_id)
    assert row.is_public is False and not row.file_url
    with session_scope() as session:
        flagged = session.scalars(select(ModerationQueue).where(ModerationQueue.file_id == file_id)).all()
    assert len(flagged) == 1
    entry = flagged[0]
    assert (entry.content_type, entry.content_id, entry.priority_level, entry.user_id) == (
        "upload",
        file_id,
        1,
        user,
    )
    assert entry.flagged_reasons == ["malware"] and entry.auto_flagged and entry.contains_files
    assert _notification(file_id)["outcome"] == "infected"
    assert counters(user) == (0, 0)


def test_a_clamd_outage_delays_the_file_but_never_publishes_it(
    api: Any, worker: WorkerProcess, clamav: ClamdService, walk: Callable[[], set[str]]
) -> None:
    user = new_user()
    data = corpus.jpeg(500, 500, noise=True)
    clamav.stop()
    try:
        accepted = _post(api, data, user_id=user).json()
        job_id = accepted["job_id"]
        deadline = time.monotonic() + 60
        while (job := jobs.get(job_id)) is not None and job.attempts < 2:
            assert time.monotonic() < deadline, "the process job was not retried"
            time.sleep(0.1)
        assert job is not None and job.state in (JobState.retrying, JobState.running, JobState.queued)
        assert "clamd" in (job.error or ""), job.error
        view = api.get(accepted["status_url"]).json()
        assert (view["status"], view["virus_scan_status"], view["file_url"]) == (
            "processing",
            "pending",
            None,
        )
        assert not any(f.startswith("public/") for f in walk())
    finally:
        clamav.start()
    view = _settle(api, accepted)
    assert (view["status"], view["virus_scan_status"]) == ("active", "clean"), view
    assert jobs.get(job_id).attempts >= 2  # type: ignore[union-attr]
    assert counters(user) == (len(data), 1)  # retried, counted once


def test_a_redelivered_job_changes_nothing_and_counts_once(
    api: Any, worker: WorkerProcess, walk: Callable[[], set[str]]
) -> None:
    user = new_user()
    data = corpus.jpeg(640, 480, noise=True)
    view = _upload(api, data, user_id=user)
    published = walk()
    for kind in ("uploads.render", "uploads.process"):
        job, _ = jobs.enqueue(kind, {"file_id": view["file_id"]})  # a fresh job: no ledger shortcut
        again = wait_for_job(api, str(job.id))
        assert again["state"] == "succeeded" and again["result"]["status"] == "active", again
    assert api.get(f"/v1/files/{view['file_id']}").json() == view
    assert walk() == published
    assert counters(user) == (len(data), 1)


def test_an_identical_file_keeps_the_second_upload_and_its_reference(
    api: Any, worker: WorkerProcess, walk: Callable[[], set[str]]
) -> None:
    data = corpus.jpeg(700, 500, noise=True, color=corpus.RED)
    first_user, second_user = new_user(), new_user()
    first = _upload(api, data, user_id=first_user)
    stored = walk()
    second = _upload(api, data, user_id=second_user, filename="same.jpg")
    assert first["status"] == second["status"] == "active"
    assert second["file_id"] != first["file_id"]
    assert (second["file_url"], second["thumbnails"]) == (first["file_url"], first["thumbnails"])
    assert walk() == stored  # nothing new stored, the second upload's bytes removed
    assert reload_file(first["file_id"]).content_hash == hashlib.sha256(data).hexdigest()
    assert reload_file(second["file_id"]).content_hash is None
    assert counters(first_user) == counters(second_user) == (len(data), 1)


# -- intake --------------------------------------------------------------------------------------------


def test_the_body_is_cut_off_past_the_contexts_limit(api: Any, worker: WorkerProcess) -> None:
    base = corpus.jpeg(400, 300, noise=True)
    exactly = base + bytes(TEST_MAX_BYTES - len(base))  # zero padding after the image is harmless
    before = _files()
    too_big = _post(api, exactly + b"\x00", user_id=new_user(), context=TEST_CONTEXT)
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    assert str(TEST_MAX_BYTES) in too_big.json()["detail"]
    assert _files() == before
    view = _upload(api, exactly, user_id=new_user(), context=TEST_CONTEXT)
    assert view["status"] == "active" and view["file_size"] == TEST_MAX_BYTES, view


def test_intake_refusals_record_nothing(api: Any) -> None:
    user = new_user()
    before = _files()
    with session_scope() as session:
        rows_before = len(session.scalars(select(UploadedFile.id)).all())
    photo = corpus.jpeg(400, 300)
    assert _post(api, b"", user_id=user).status_code == 422  # zero bytes
    assert _post(api, photo, user_id=user, secret="not-a-secret").status_code == 401
    assert _post(api, photo, user_id=user, context="nope").status_code == 422
    assert _post(api, photo, user_id=2**31 - 2).status_code == 422  # no such user
    assert _post(api, photo, user_id=user, surprise="x").status_code == 422
    unsigned = api.post("/v1/uploads", files={"file": ("a.jpg", photo)}, data={"context": "review"})
    assert unsigned.status_code == 401
    assert (
        api.post("/v1/uploads", content=b"{}", headers={"X-Skincare-Signature": "t=1,v1=00"}).status_code
        == 401
    )
    assert _files() == before
    with session_scope() as session:
        assert len(session.scalars(select(UploadedFile.id)).all()) == rows_before
    assert api.get("/v1/files/2147483000").status_code == 404


def test_an_idempotency_key_replays_the_first_upload(api: Any, worker: WorkerProcess) -> None:
    user = new_user()
    photo = corpus.jpeg(400, 300, color=corpus.BLUE)
    key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    first = _post(api, photo, user_id=user, headers=key)
    assert _settle(api, first.json())["status"] == "active"
    before = _files()
    again = _post(api, photo, user_id=user, headers=key)
    assert again.status_code == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    other = _post(api, corpus.jpeg(400, 300), user_id=user, headers=key)
    assert other.status_code == 409
    assert _files() == before
