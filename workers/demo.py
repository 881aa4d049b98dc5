"""``skincare-workers demo``: the whole system on embedded defaults, end to end.

It needs no server: a SQLite database and kombu's filesystem transport in a fresh data folder.
It starts the real API and a real worker process, seeds a small shop, pushes one signed request
through every endpoint, waits for every job and prints its final state. What it cannot do on
this machine (no clamd, no SMTP, no MongoDB...) it says plainly.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from queues import signing

FINISHED = ("succeeded", "failed", "dead")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_shop() -> dict[str, int]:
    """A small shop: three users, a product, a delivered order, a review, a question and answer,
    a progress entry and a wishlist. Returns the ids the demo's requests carry."""
    from storage.db import session_scope
    from storage.models import (
        Order,
        OrderItem,
        Product,
        ProductAnswer,
        ProductQuestion,
        ProductReview,
        SkincareProgress,
        User,
        Wishlist,
    )

    with session_scope() as s:
        alice = User(email="alice@example.com", password="x", first_name="Alice", language="en")
        bora = User(email="bora@example.com", password="x", first_name="Bora", language="kh")
        mod = User(email="mod@example.com", password="x", first_name="Mo", role="moderator")
        product = Product(
            name_en="Niacinamide 10% Serum",
            slug="niacinamide-serum",
            sku="SER-NIA-10",
            price=18.5,
            stock=0,
            category="serum",
        )
        s.add_all([alice, bora, mod, product])
        s.flush()
        order = Order(
            order_number="DEMO-1",
            user_id=alice.id,
            customer_email=alice.email,
            subtotal=18.5,
            total=18.5,
            status="delivered",
        )
        s.add(order)
        s.flush()
        item = OrderItem(
            order_id=order.id,
            product_id=product.id,
            product_name=product.name_en,
            quantity=1,
            unit_price=18.5,
            total_price=18.5,
        )
        s.add(item)
        s.flush()
        review = ProductReview(
            product_id=product.id,
            user_id=alice.id,
            order_item_id=item.id,
            rating=5,
            title="Cleared up my skin",
            review_text="After four weeks my breakouts cleared up and the texture is lovely. No irritation.",
            skin_type_at_review="acne",
            effectiveness_rating=5,
            texture_rating=4,
        )
        question = ProductQuestion(
            product_id=product.id, user_id=bora.id, question="Can I use this with retinol at night?"
        )
        s.add_all([review, question])
        s.flush()
        answer = ProductAnswer(
            question_id=question.id,
            user_id=alice.id,
            answer="Yes, I use it before my retinol every other night without any stinging.",
        )
        progress = SkincareProgress(
            user_id=alice.id,
            product_id=product.id,
            week_number=1,
            progress_date=date.today(),
            skin_condition_notes="Fewer breakouts this week, slight dryness around the nose.",
            overall_satisfaction=4,
            side_effects_severity=1,
        )
        s.add_all([answer, progress, Wishlist(user_id=bora.id, product_id=product.id)])
        s.flush()
        return {
            "user_id": alice.id,
            "other_user_id": bora.id,
            "product_id": product.id,
            "review_id": review.id,
            "question_id": question.id,
            "answer_id": answer.id,
            "progress_id": progress.id,
        }


def _demo_photo() -> bytes:
    """A 1600x1200 JPEG photo-like gradient, as a phone would send."""
    from PIL import Image

    img = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _requests(ids: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/webhook/review-submitted", {"review_id": ids["review_id"]}),
        ("/webhook/progress-updated", {"progress_id": ids["progress_id"]}),
        ("/webhook/question-asked", {"question_id": ids["question_id"]}),
        ("/webhook/answer-provided", {"answer_id": ids["answer_id"]}),
        ("/realtime/notify-review-response", {"review_id": ids["review_id"], "response_text": "Thank you!"}),
        (
            "/realtime/notify-question-answered",
            {"question_id": ids["question_id"], "answer_id": ids["answer_id"]},
        ),
        (
            "/realtime/notify-product-recommendation",
            {"user_id": ids["other_user_id"], "product_id": ids["product_id"], "reason": "matches your skin"},
        ),
        ("/v1/events/product", {"product_id": ids["product_id"], "event": "restock"}),
    ]


def _signed_json(client: httpx.Client, secret: str, path: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {signing.HEADER: signing.sign(secret, body), "Content-Type": "application/json"}
    return client.post(path, content=body, headers=headers)


def _signed_upload(client: httpx.Client, secret: str, user_id: int) -> httpx.Response:
    request = client.build_request(
        "POST",
        "/v1/uploads",
        data={"context": "review", "user_id": str(user_id)},
        files={"file": ("my photo.jpg", _demo_photo(), "image/jpeg")},
    )
    body = request.read()
    request.headers[signing.HEADER] = signing.sign(secret, body)
    return client.send(request)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def _wait_worker(log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}:\n{log.read_text()}")
        if " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready after {timeout}s")


def _skipped(env: dict[str, str]) -> list[str]:
    notes = [
        "MongoDB: no MONGO_URL in the demo; analytics documents go to the SQL-JSON store (same contract).",
        "Redis: the embedded broker is a folder (kombu filesystem); live pub/sub of in-app notifications "
        "is skipped, the notification rows are written.",
        "E-mail: no SMTP_URL; e-mail deliveries are recorded as skipped, not sent.",
        "Push: no PUSH_GATEWAY_URL; push deliveries are recorded as skipped, not sent.",
    ]
    if env.get("CLAMD_ADDRESS") == "disabled":
        notes.insert(
            0,
            "Virus scanning: no clamd binary on this machine (apt-get install clamav-daemon); "
            "uploads are marked virus_scan_status=skipped. Production fails closed instead.",
        )
    return notes


def run_demo(keep: bool = False) -> int:
    data = Path(tempfile.mkdtemp(prefix="skincare-demo-"))
    secret = secrets.token_hex(16)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "REDIS_URL", "MONGO_URL", "STORAGE_ROOT")
    }
    env.update(DATA_DIR=str(data), INGEST_SECRETS=secret, QUEUED_GRACE_S="30")
    with ExitStack() as stack:
        from workers.uploads.clamd_local import find_clamd, start_clamd

        if find_clamd():
            clamd = stack.enter_context(start_clamd(data / "clamd"))
            env["CLAMD_ADDRESS"] = clamd.address
        else:
            env["CLAMD_ADDRESS"] = "disabled"
        os.environ.update(env)
        for k in ("DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "REDIS_URL", "MONGO_URL", "STORAGE_ROOT"):
            os.environ.pop(k, None)
        from workers.settings import get_settings

        get_settings.cache_clear()
        print(f"skincare-workers demo — data folder {data}")
        print(f"  database: {get_settings().sqlalchemy_url}")
        print(f"  broker:   filesystem transport in {get_settings().broker_folder}")
        print(f"  clamd:    {env['CLAMD_ADDRESS']}")
        from storage.migrate import upgrade

        upgrade()
        ids = seed_shop()

        port = _free_port()
        worker_log = data / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker", "--concurrency", "2"],
            env=env,
            stdout=worker_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, worker)
        api = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "api", "--port", str(port)],
            env=env,
            stdout=(data / "api.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, api)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/healthz", api)
        print(f"  worker log: {worker_log}")
        _wait_worker(worker_log, worker)
        print(f"  worker: ready (all queues, 2 processes); API: {base}")
        print()
        ok = _push_everything(base, secret, ids)
    if not keep:
        shutil.rmtree(data, ignore_errors=True)
    print()
    print("What the demo skipped on this machine:")
    for note in _skipped(env):
        print(f"  - {note}")
    print()
    verdict = "every job reached its expected final state" if ok else "some jobs did not finish as expected"
    print(f"demo: {verdict}")
    return 0 if ok else 1


def _push_everything(base: str, secret: str, ids: dict[str, int]) -> bool:
    accepted: list[tuple[str, str]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        resp = _signed_upload(client, secret, ids["user_id"])
        print(f"POST /v1/uploads -> {resp.status_code} {resp.json()}")
        resp.raise_for_status()
        file_id = resp.json()["file_id"]
        accepted.append(("/v1/uploads", resp.json()["job_id"]))
        for path, payload in _requests(ids):
            resp = _signed_json(client, secret, path, payload)
            print(f"POST {path} -> {resp.status_code} job {resp.json().get('job_id')}")
            resp.raise_for_status()
            accepted.append((path, resp.json()["job_id"]))
        print()
        print(f"{'endpoint':42} {'task':32} {'state':10} result")
        ok = True
        for path, job_id in accepted:
            view = _poll(client, f"/v1/jobs/{job_id}", "state", FINISHED)
            ok &= view["state"] == "succeeded"
            summary = json.dumps(view.get("result") or view.get("error"))[:80]
            print(f"{path:42} {view['kind']:32} {view['state']:10} {summary}")
        file_view = _poll(client, f"/v1/files/{file_id}", "status", ("active", "failed", "deleted"))
        print()
        print(f"uploaded file {file_id}: {json.dumps(file_view)[:400]}")
        ok &= file_view.get("status") == "active"
    return ok


def _poll(
    client: httpx.Client, path: str, field: str, done: tuple[str, ...], timeout: float = 120
) -> dict[str, Any]:
    """GET ``path`` until its ``field`` is one of ``done`` (or the time is up); the last view."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = client.get(path).json()
        if view.get(field) in done:
            break
        time.sleep(0.2)
    return view


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
