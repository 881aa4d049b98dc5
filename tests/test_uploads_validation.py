"""The upload rules as plain functions (no broker): sniffing, validation, quotas, dedup, scanning, paths."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from storage.db import session_scope
from storage.files import LocalFileStore, StorageError, get_store
from storage.models import FileStatus, FileUploadConfig, MediaType, UploadedFile, User, VirusScanStatus
from tests import corpus
from tests.clamav import SIGNATURE_NAME, ClamdService
from workers.settings import get_settings
from workers.uploads import pipeline, scan, validate
from workers.uploads.sniff import UploadRejected, detect, sniff


def _write(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _config(context: str) -> FileUploadConfig:
    with session_scope() as session:
        config = session.scalar(select(FileUploadConfig).where(FileUploadConfig.context == context))
    assert config is not None
    return config


def _rejected(call: Any, *args: Any) -> str:
    with pytest.raises(UploadRejected) as caught:
        call(*args)
    return str(caught.value)


# -- sniffing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "extension"),
    [
        (corpus.jpeg(), "image/jpeg", "jpg"),
        (corpus.cmyk_jpeg(), "image/jpeg", "jpg"),
        (corpus.exif_orientation6_gps_jpeg(), "image/jpeg", "jpg"),
        (corpus.png(mode="RGBA", bits=16), "image/png", "png"),
        (corpus.png(mode="P"), "image/png", "png"),
        (corpus.animated_gif(), "image/gif", "gif"),
        (corpus.webp(200, 100, noise=True), "image/webp", "webp"),
        (corpus.mp4_minimal(), "video/mp4", "mp4"),
        (corpus.webm_minimal(), "video/webm", "webm"),
        # multi-picture JPEG (an Ultra HDR gain map or depth map stored after the first image)
        (corpus.jpeg(64, 48, noise=True) + corpus.jpeg(16, 12), "image/jpeg", "jpg"),
        # zero padding after the end marker
        (corpus.jpeg() + bytes(64), "image/jpeg", "jpg"),
    ],
)
def test_sniff_names_the_real_type_from_the_bytes(
    tmp_path: Path, data: bytes, mime: str, extension: str
) -> None:
    found = sniff(_write(tmp_path, data, "named-anything.exe"))
    assert (found.mime, found.extension) == (mime, extension)


def test_sniff_walks_progressive_jpegs_and_jpegs_with_exif_thumbnails(tmp_path: Path) -> None:
    image = Image.effect_noise((320, 240), 50).convert("RGB")
    for options in ({"progressive": True}, {"exif": Image.Exif().tobytes(), "restart_marker_blocks": 1}):
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85, **options)
        assert sniff(_write(tmp_path, buf.getvalue())).format == "jpeg"


@pytest.mark.parametrize(
    ("data", "rule", "words"),
    [
        (corpus.svg_with_script(), "file type", "SVG"),
        (b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>", "file type", "SVG"),
        (corpus.html_page(), "file type", "HTML"),
        (corpus.zip_archive(), "file type", "ZIP archive"),
        (corpus.tiff(), "file type", "TIFF"),
        (b"<?php echo 1; ?>", "file type", "PHP"),
        (b"#!/bin/sh\nrm -rf /\n", "file type", "script"),
        (b"%PDF-1.7\n", "file type", "PDF"),
        (b"MZ\x90\x00", "file type", "Windows executable"),
        (corpus.eicar(), "file type", "unrecognised"),
        (struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic", "file type", "HEIF"),
        (struct.pack(">I", 20) + b"ftypqt  " + bytes(4) + b"qt  ", "file type", "QuickTime"),
        (corpus.jpeg_php_polyglot(), "polyglot", "PHP code"),
        (corpus.jpeg() + b"<script>alert(1)</script>", "polyglot", "script"),
        (
            corpus.jpeg(64, 48, noise=True) + corpus.zip_archive(),
            "trailing data",
            "after the end of the JPEG",
        ),
        (corpus.png() + b"appended", "trailing data", "PNG"),
        (corpus.animated_gif() + b"GIF89a-more", "trailing data", "GIF"),
        (corpus.webp() + b"x", "trailing data", "WEBP"),
        (corpus.mp4_minimal() + b"\x00\x00\x00\x10\xff\xfe\xfd\xfc" + bytes(8), "trailing data", "MP4"),
        (corpus.truncated_jpeg(), "truncated", "JPEG"),
        (corpus.png()[:-20], "truncated", "PNG"),
        (corpus.animated_gif()[:-30], "truncated", "GIF"),
        (b"", "empty file", "no bytes"),
    ],
)
def test_sniff_refuses_what_only_pretends_to_be_an_image(
    tmp_path: Path, data: bytes, rule: str, words: str
) -> None:
    path = _write(tmp_path, data, "photo.jpg")
    reason = _rejected(sniff, path) if data else _rejected(detect, data)
    assert reason.startswith(f"{rule}: ") and words in reason, reason


def test_a_matroska_file_is_not_webm(tmp_path: Path) -> None:
    webm = corpus.webm_minimal()
    # DocType "matroska" is 4 bytes longer than "webm": so is the EBML header (size byte 0x9f -> 0xa3).
    matroska = webm.replace(b"\x42\x82\x84webm", b"\x42\x82\x88matroska")
    matroska = matroska.replace(b"\x1a\x45\xdf\xa3\x9f", b"\x1a\x45\xdf\xa3\xa3")
    assert "matroska" in _rejected(sniff, _write(tmp_path, matroska))


# -- validation rules --------------------------------------------------------------------------------


def test_size_rules() -> None:
    review = _config("review")
    assert _rejected(validate.check_size, 0, review).startswith("empty file: ")
    validate.check_size(review.max_file_size, review)
    reason = _rejected(validate.check_size, review.max_file_size + 1, review)
    assert reason.startswith("max_file_size: ") and str(review.max_file_size) in reason


def test_type_rules_go_by_content_and_name_the_config_column(tmp_path: Path) -> None:
    review, profile = _config("review"), _config("profile")
    png_named_jpg = _write(tmp_path, corpus.png(), "photo.jpg")
    assert validate.check_type(png_named_jpg, review).extension == "png"
    gif = _write(tmp_path, corpus.animated_gif(), "a.gif")
    assert validate.check_type(gif, profile).mime == "image/gif"
    assert _rejected(validate.check_type, gif, review).startswith("allowed_mime_types: image/gif")
    video = _write(tmp_path, corpus.mp4_minimal(), "clip.mp4")
    assert validate.check_type(video, _config("product")).media_type == MediaType.video
    assert _rejected(validate.check_type, video, review).startswith("allowed_mime_types: video/mp4")
    no_jpg = FileUploadConfig(
        context="t", allowed_mime_types=["image/jpeg"], allowed_extensions=["jpeg"], max_file_size=10
    )
    assert _rejected(validate.check_type, _write(tmp_path, corpus.jpeg()), no_jpg).startswith(
        "allowed_extensions: .jpg"
    )


@pytest.mark.parametrize(
    ("width", "height", "rule"),
    [
        (299, 300, "min_width"),
        (300, 299, "min_height"),
        (3001, 400, "max_width"),
        (400, 3001, "max_height"),
    ],
)
def test_dimension_rules_one_pixel_past_each_limit(
    tmp_path: Path, width: int, height: int, rule: str
) -> None:
    review = _config("review")
    reason = _rejected(validate.check_image, _write(tmp_path, corpus.jpeg(width, height)), review)
    assert reason.startswith(f"{rule}: ") and "review" in reason, reason


def test_dimensions_at_the_limits_pass_and_exif_orientation_counts(tmp_path: Path) -> None:
    review = _config("review")
    header = validate.check_image(_write(tmp_path, corpus.jpeg(300, 3000)), review)
    assert (header.width, header.height) == (300, 3000)
    tiny = FileUploadConfig(context="t", min_width=61, max_file_size=10)  # displayed 60 wide
    reason = _rejected(validate.check_image, _write(tmp_path, corpus.exif_orientation6_gps_jpeg()), tiny)
    assert reason.startswith("min_width: 60 px")


def test_aspect_ratio_rule(tmp_path: Path) -> None:
    config = FileUploadConfig(
        context="banner", aspect_ratio_restrictions={"min": 0.5, "max": 2.0}, max_file_size=10
    )
    validate.check_image(_write(tmp_path, corpus.jpeg(200, 100)), config)
    reason = _rejected(validate.check_image, _write(tmp_path, corpus.jpeg(201, 100)), config)
    assert reason.startswith("aspect_ratio_restrictions: width/height 2.01")


@pytest.mark.parametrize("data", [corpus.pixel_flood_png(), corpus.decompression_bomb_gif()])
def test_pixel_floods_are_refused_from_the_header(tmp_path: Path, data: bytes) -> None:
    # 10^10 and 9 * 10^8 pixels: a decode would need tens of GB; the header check answers at once.
    reason = _rejected(validate.check_image, _write(tmp_path, data), _config("product"))
    assert reason.startswith("pixel flood: "), reason


# -- quotas ------------------------------------------------------------------------------------------


def new_user(storage_used: int = 0) -> int:
    """A fresh shop user (the upload tests share these helpers)."""
    with session_scope() as session:
        user = User(email=f"u-{uuid.uuid4().hex[:10]}@example.com", password="x", storage_used=storage_used)
        session.add(user)
        session.flush()
        return user.id


def _file(
    user_id: int | None,
    context: str,
    *,
    status: FileStatus = FileStatus.active,
    entity: tuple[str, int] | None = None,
    size: int = 1000,
    **values: Any,
) -> UploadedFile:
    with session_scope() as session:
        row = UploadedFile(
            filename="f",
            original_filename="f.jpg",
            file_path=values.pop("file_path", "public/x"),
            file_url="",
            file_size=size,
            mime_type="image/jpeg",
            file_extension="jpg",
            media_type=MediaType.image,
            uploaded_by=user_id,
            upload_context=context,
            related_entity_type=entity[0] if entity else None,
            related_entity_id=entity[1] if entity else None,
            status=status,
            **values,
        )
        session.add(row)
    return row


def test_max_files_per_user_counts_active_files_of_the_context() -> None:
    profile = _config("profile")  # 3 per user
    user = new_user()
    for _ in range(2):
        _file(user, "profile")
    _file(user, "profile", status=FileStatus.failed)
    _file(user, "review")
    candidate = _file(user, "profile", status=FileStatus.processing)
    with session_scope() as session:
        validate.check_quotas(session, candidate, profile, 1000)
    _file(user, "profile")
    with session_scope() as session:
        reason = _rejected(validate.check_quotas, session, candidate, profile, 1000)
    assert reason.startswith("max_files_per_user: the user already has 3 profile files (limit 3)")


def test_max_total_size_per_user_uses_storage_used() -> None:
    review = _config("review")
    limit = review.max_total_size_per_user
    assert limit
    candidate = _file(new_user(storage_used=limit - 1000), "review", status=FileStatus.processing)
    with session_scope() as session:
        validate.check_quotas(session, candidate, review, 1000)
        reason = _rejected(validate.check_quotas, session, candidate, review, 1001)
    assert reason.startswith("max_total_size_per_user: ")


def test_max_files_per_upload_bounds_the_files_of_one_entity() -> None:
    qa = _config("qa")  # 3 per question or answer
    entity = ("question", 424242)
    for _ in range(3):
        _file(new_user(), "qa", entity=entity)
    candidate = _file(new_user(), "qa", status=FileStatus.processing, entity=entity)
    other = _file(new_user(), "qa", status=FileStatus.processing, entity=("question", 424243))
    with session_scope() as session:
        assert _rejected(validate.check_quotas, session, candidate, qa, 10).startswith(
            "max_files_per_upload: question 424242 already has 3 qa files (limit 3)"
        )
        validate.check_quotas(session, other, qa, 10)


# -- the pipeline's plain functions: dedup, idempotency, rejections ----------------------------------


def _stored(data: bytes, user_id: int | None, context: str = "review", **values: Any) -> UploadedFile:
    """A row in ``processing`` that passed uploads.process, its bytes at the work key."""
    row = _file(
        user_id,
        context,
        status=FileStatus.processing,
        size=len(data),
        file_path="incoming/pending",
        virus_scan_status=VirusScanStatus.clean,
        **values,
    )
    path = get_store().path(pipeline.work_key(row.id))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return row


def reload_file(file_id: int) -> UploadedFile:
    with session_scope() as session:
        row = session.get(UploadedFile, file_id)
    assert row is not None
    return row


def counters(user_id: int) -> tuple[int, int]:
    """The user's (storage_used, files_uploaded)."""
    with session_scope() as session:
        user = session.get(User, user_id)
    assert user is not None
    return user.storage_used or 0, user.files_uploaded or 0


def test_identical_bytes_are_stored_once_and_both_rows_stay_active() -> None:
    data = corpus.jpeg(640, 480, noise=True, color=corpus.BLUE)
    first_user, second_user = new_user(), new_user()
    first, second = _stored(data, first_user), _stored(data, second_user)
    assert pipeline.render_upload(first.id)["status"] == "active"
    assert pipeline.render_upload(second.id)["status"] == "active"
    one, two = reload_file(first.id), reload_file(second.id)
    assert one.content_hash == hashlib.sha256(data).hexdigest()  # the original's, of the uploaded bytes
    assert two.content_hash is None  # the seed's UNIQUE content_hash: the second row points, not owns
    assert (two.file_path, two.file_url, two.image_thumbnails) == (
        one.file_path,
        one.file_url,
        one.image_thumbnails,
    )
    assert two.status == FileStatus.active and two.id != one.id
    assert not get_store().exists(pipeline.work_key(second.id))
    assert counters(first_user) == (len(data), 1) and counters(second_user) == (len(data), 1)
    # A rerun of either job changes nothing and counts nothing twice.
    pipeline.render_upload(first.id)
    pipeline.render_upload(second.id)
    assert counters(first_user) == (len(data), 1) and counters(second_user) == (len(data), 1)


def test_render_publishes_under_a_layout_derived_from_id_and_content() -> None:
    data = corpus.jpeg(900, 600, noise=True)
    user = new_user()
    row = _stored(data, user)
    result = pipeline.render_upload(row.id)
    done = reload_file(row.id)
    # A render that died before its commit left the row processing; its rerun writes these same keys.
    layout = pipeline.Layout.of(done, _config("review"), hashlib.sha256(data).hexdigest())
    assert done.file_path == layout.key("master", "jpg")
    assert done.file_path.startswith(f"public/uploads/reviews/{done.created_at:%Y/%m}/")
    assert done.file_url == "/media/" + done.file_path.removeprefix("public/")
    assert set(result["thumbnails"]) == {"thumbnail", "small", "medium"}
    for name, url in result["thumbnails"].items():
        assert url == "/media/" + layout.key(name, "jpg").removeprefix("public/")
        assert get_store().exists("public/" + url.removeprefix("/media/"))
    assert (done.image_width, done.image_height, done.is_processed) == (900, 600, True)
    assert done.dominant_colors and all(c.startswith("#") and len(c) == 7 for c in done.dominant_colors)
    assert not get_store().exists(pipeline.work_key(row.id))
    # A redelivered job finds the row active: nothing changes, nothing is counted twice.
    assert pipeline.render_upload(row.id)["file_url"] == done.file_url
    assert pipeline.process_upload(row.id)["status"] == "active"
    assert counters(user) == (len(data), 1)


def test_rejections_remove_the_bytes_and_name_the_rule(clamav: ClamdService) -> None:
    user = new_user()
    row = _stored(corpus.jpeg(64, 48), user)
    outcome = pipeline.process_upload(row.id)
    assert outcome["status"] == "failed"
    assert outcome["processing_error"].startswith("min_width: 64 px")
    assert not get_store().exists(pipeline.work_key(row.id))
    assert reload_file(row.id).processing_error == outcome["processing_error"]
    assert counters(user) == (0, 0)
    # Settled: a rerun is a no-op that reports the same outcome.
    assert pipeline.process_upload(row.id)["processing_error"] == outcome["processing_error"]


def test_a_file_path_outside_incoming_is_refused_and_left_alone(tmp_path: Path) -> None:
    victim = get_store().path("public/keep-me.txt")
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("not yours")
    other = _stored(corpus.jpeg(400, 300), new_user())  # its bytes wait at incoming/file-<id>
    for path in (
        "public/keep-me.txt",
        "incoming/../public/keep-me.txt",
        "/etc/passwd",
        pipeline.work_key(other.id),
    ):
        row = _file(new_user(), "review", status=FileStatus.uploading, file_path=path)
        outcome = pipeline.process_upload(row.id)
        assert outcome["status"] == "failed" and outcome["processing_error"].startswith("file_path: "), (
            outcome
        )
    assert victim.read_text() == "not yours"
    assert get_store().exists(pipeline.work_key(other.id))


def test_unknown_ids_are_permanent_errors() -> None:
    from workers.taskbase import PermanentError

    for bad in (2**31 - 1, 0, "7"):
        with pytest.raises(PermanentError):
            pipeline.process_upload(bad)  # type: ignore[arg-type]


# -- storage paths -----------------------------------------------------------------------------------


def test_storage_keys_cannot_leave_their_area(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "root")
    (tmp_path / "root" / "public").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "root" / "public" / "link")
    for key in (
        "../x",
        "/etc/passwd",
        "public/../../x",
        "public/../quarantine/x",
        "incoming/./x",
        "other/x",
        "public",
        "",
        "public\\..\\x",
        "public/a\x00b",
        "public/link/x",
    ):
        with pytest.raises(StorageError):
            store.path(key)
    assert store.path("public/a/b.jpg") == (tmp_path / "root" / "public" / "a" / "b.jpg").resolve()


def test_staged_writes_appear_only_when_committed(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    staged = store.staged("incoming")
    staged.write(b"abc")
    assert not store.exists(staged.key)
    assert store.exists(staged.commit()) and store.size(staged.key) == 3
    staged.discard()
    dropped = store.staged("incoming")
    dropped.write(b"x")
    dropped.discard()
    assert list((tmp_path / "incoming").iterdir()) == []


def test_client_filenames_are_labels_only() -> None:
    from queues.uploads_api import clean_filename

    assert clean_filename(b"../../../etc/passwd.jpg") == "passwd.jpg"
    assert clean_filename(b"C:\\Users\\me\\photo.jpg") == "photo.jpg"
    assert clean_filename("a\u202eb\x00c\n.jpg".encode()) == "abc.jpg"
    long_name = ("é" * 300 + ".jpg").encode()
    assert len(clean_filename(long_name)) == 255
    assert clean_filename(b"/") == "upload"


# -- scanning ----------------------------------------------------------------------------------------


@pytest.fixture()
def scan_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change CLAMD_* for one test; the settings are read again before and after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_real_clamd_finds_eicar_and_passes_a_photo(tmp_path: Path, clamav: ClamdService) -> None:
    infected = scan.scan_file(_write(tmp_path, corpus.eicar(), "eicar.jpg"), required=True)
    assert infected.status == VirusScanStatus.infected
    assert infected.detail and infected.detail.startswith(SIGNATURE_NAME)
    clean = scan.scan_file(_write(tmp_path, corpus.jpeg(), "photo.jpg"), required=True)
    assert clean == scan.Verdict(VirusScanStatus.clean)
    skipped = scan.scan_file(_write(tmp_path, corpus.eicar(), "eicar.jpg"), required=False)
    assert skipped.status == VirusScanStatus.skipped


def test_over_the_stream_limit_is_not_clean(tmp_path: Path, clamav: ClamdService) -> None:
    # clamd_local sets StreamMaxLength 25M: clamd refuses the rest, which must never read as clean.
    big = tmp_path / "big.jpg"
    with open(big, "wb") as out:
        out.truncate(26 * 1024 * 1024)
    with pytest.raises(scan.ScanUnavailable, match=r"size limit|closed|unavailable"):
        scan.scan_file(big, required=True)


def test_no_answer_is_not_clean(tmp_path: Path, scan_settings: pytest.MonkeyPatch) -> None:
    """A silent clamd (accepts, reads, never answers) times out; a missing one refuses to connect."""
    silent = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(silent))
    server.listen(1)
    held: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        held.append(conn)
        while conn.recv(65536):
            pass

    threading.Thread(target=accept, daemon=True).start()
    photo = _write(tmp_path, corpus.jpeg())
    scan_settings.setenv("CLAMD_ADDRESS", f"unix://{silent}")
    scan_settings.setenv("CLAMD_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    try:
        with pytest.raises(scan.ScanUnavailable):
            scan.scan_file(photo, required=True)
    finally:
        server.close()
        for conn in held:
            conn.close()
    for address in (f"unix://{tmp_path / 'nobody.sock'}", "tcp://127.0.0.1:9", "", "http://clamd"):
        scan_settings.setenv("CLAMD_ADDRESS", address)
        get_settings.cache_clear()
        with pytest.raises(scan.ScanUnavailable):
            scan.scan_file(photo, required=True)


def test_disabled_scanning_is_recorded_as_skipped(tmp_path: Path, scan_settings: pytest.MonkeyPatch) -> None:
    scan_settings.setenv("CLAMD_ADDRESS", "disabled")
    get_settings.cache_clear()
    verdict = scan.scan_file(_write(tmp_path, corpus.eicar()), required=True)
    assert verdict.status == VirusScanStatus.skipped and "disabled" in (verdict.detail or "")


@pytest.mark.parametrize(
    "answer",
    [
        "stream: OK ERROR",
        "INSTREAM size limit exceeded. ERROR",
        "stream: Can't allocate memory ERROR",
        "",
        "PONG",
    ],
)
def test_any_answer_but_ok_or_found_is_not_clean(answer: str) -> None:
    with pytest.raises(scan.ScanUnavailable):
        scan.parse_answer(answer)
    assert scan.parse_answer("stream: OK") == scan.Verdict(VirusScanStatus.clean)
    assert scan.parse_answer("stream: Eicar-Sig FOUND") == scan.Verdict(VirusScanStatus.infected, "Eicar-Sig")
