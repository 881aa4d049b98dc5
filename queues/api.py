"""The thin ingest API: the shop's API server pushes work here; nothing slow happens in a request.

Every mutating request is HMAC-signed (``queues.signing``), validated, recorded in the jobs ledger
and published to its routed task; the answer is ``202 {"job_id", "status_url"}``. The signature
is checked before the body is even parsed, so an unsigned request records and enqueues nothing.
"""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError
from sqlalchemy import text

from queues import metrics, signing
from workers import jobs
from workers.settings import get_settings

log = logging.getLogger(__name__)

#: JSON bodies are ids and small event descriptions; anything larger is not ours.
MAX_JSON_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class Accepted(BaseModel):
    job_id: uuid.UUID
    status_url: str
    state: str


class JobView(BaseModel):
    job_id: uuid.UUID
    kind: str
    state: str
    progress: int
    attempts: int
    result: Any = None
    error: str | None = None
    created_at: str
    updated_at: str
    finished_at: str | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewSubmitted(_Strict):
    review_id: PositiveInt


class ProgressUpdated(_Strict):
    progress_id: PositiveInt


class QuestionAsked(_Strict):
    question_id: PositiveInt


class AnswerProvided(_Strict):
    answer_id: PositiveInt


class _Event(_Strict):
    event_id: str | None = Field(
        None, max_length=100, description="The producer's id for this event; repeats never notify twice."
    )


class ReviewResponse(_Event):
    review_id: PositiveInt
    response_text: str | None = Field(None, max_length=2000)


class QuestionAnswered(_Event):
    question_id: PositiveInt
    answer_id: PositiveInt


class ProductRecommendation(_Event):
    user_id: PositiveInt
    product_id: PositiveInt
    reason: str | None = Field(None, max_length=500)


class ProductEvent(_Event):
    product_id: PositiveInt
    event: Literal["restock", "sale", "new_review"]
    details: dict[str, Any] = Field(default_factory=dict)


def _event(kind: str) -> Callable[[BaseModel], dict[str, Any]]:
    """Wrap a realtime body as a ``notifications.fanout`` event of the given type."""

    def to_payload(body: BaseModel) -> dict[str, Any]:
        data = body.model_dump()
        if kind == "product":
            data["type"] = f"product_{data.pop('event')}"
        else:
            data["type"] = kind
        return {"event": data}

    return to_payload


def _ids(body: BaseModel) -> dict[str, Any]:
    return body.model_dump()


#: path -> (public task name, body model, body -> task kwargs). The HTTP contract (README).
ROUTES: dict[str, tuple[str, type[BaseModel], Callable[[BaseModel], dict[str, Any]]]] = {
    "/webhook/review-submitted": ("feedback.review_submitted", ReviewSubmitted, _ids),
    "/webhook/progress-updated": ("feedback.progress_updated", ProgressUpdated, _ids),
    "/webhook/question-asked": ("feedback.question_asked", QuestionAsked, _ids),
    "/webhook/answer-provided": ("feedback.answer_provided", AnswerProvided, _ids),
    "/realtime/notify-review-response": ("notifications.fanout", ReviewResponse, _event("review_response")),
    "/realtime/notify-question-answered": (
        "notifications.fanout",
        QuestionAnswered,
        _event("question_answered"),
    ),
    "/realtime/notify-product-recommendation": (
        "notifications.fanout",
        ProductRecommendation,
        _event("product_recommendation"),
    ),
    "/v1/events/product": ("notifications.fanout", ProductEvent, _event("product")),
}


async def read_signed_body(request: Request) -> bytes:
    """The raw body, once its signature is checked against the configured secrets."""
    settings = get_settings()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise ApiError(413, "too_large", f"body over {MAX_JSON_BODY} bytes")
    body = await request.body()
    if len(body) > MAX_JSON_BODY:
        raise ApiError(413, "too_large", f"body over {MAX_JSON_BODY} bytes")
    try:
        signing.verify(
            request.headers.get(signing.HEADER), body, settings.secrets, settings.signature_tolerance_s
        )
    except signing.SignatureError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from exc
    return body


async def accept(
    kind: str, payload: dict[str, Any], idempotency_key: str | None, body: bytes
) -> JSONResponse:
    """Record and publish a job; a repeated Idempotency-Key answers with the first job."""
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise ApiError(400, "bad_idempotency_key", "Idempotency-Key must be 1 to 255 characters")
    try:
        job, created = await run_in_threadpool(
            jobs.enqueue,
            kind,
            payload,
            idempotency_key=idempotency_key,
            request_hash=jobs.body_hash(body) if idempotency_key else None,
        )
    except jobs.IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from exc
    if created:
        metrics.job_accepted(kind)
    accepted = Accepted(job_id=job.id, status_url=f"/v1/jobs/{job.id}", state=job.state.value)
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


def _register(app: FastAPI, path: str, kind: str, model: type[BaseModel], to_payload: Callable) -> None:
    async def endpoint(
        request: Request, idempotency_key: str | None = Header(None, alias="Idempotency-Key")
    ) -> JSONResponse:
        body = await read_signed_body(request)
        try:
            data = model.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc
        return await accept(kind, to_payload(data), idempotency_key, body)

    endpoint.__name__ = path.strip("/").replace("/", "_").replace("-", "_")
    app.post(
        path,
        status_code=202,
        response_model=Accepted,
        summary=f"Queue {kind}",
        responses={401: {"description": "missing, stale or wrong signature"}, 409: {}, 422: {}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": model.model_json_schema()}},
            }
        },
    )(endpoint)


def _job_view(job_id: str) -> JobView | None:
    job = jobs.get(job_id)
    if job is None:
        return None
    return JobView(
        job_id=job.id,
        kind=job.kind,
        state=job.state.value,
        progress=job.progress,
        attempts=job.attempts,
        result=job.result,
        error=job.error,
        created_at=job.created_at.isoformat() + "Z",
        updated_at=job.updated_at.isoformat() + "Z",
        finished_at=job.finished_at.isoformat() + "Z" if job.finished_at else None,
    )


def _check_database() -> None:
    from storage.db import session_scope

    with session_scope() as session:
        session.execute(text("SELECT 1"))


def _check_broker() -> None:
    from workers.app import app as celery_app

    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@asynccontextmanager
async def _warmed_up(_: FastAPI) -> AsyncIterator[None]:
    """Serve once the intake path is open: the first requests would wait for it, and all behind them."""
    try:
        await run_in_threadpool(jobs.warm_up)
    except Exception:  # a service is down: serve anyway, /readyz says what is missing
        log.warning("warm-up failed; requests will open connections as they need them", exc_info=True)
    # What exists now (modules, the app, pools) lives as long as the process: keep it out of the
    # collector's full passes, which would otherwise stall every request for ~100 ms now and then.
    gc.freeze()
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="skincare-workers ingest API",
        version="1",
        description="Signed, idempotent intake of background work for the skincare shop.",
        lifespan=_warmed_up,
    )
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_route("/metrics", metrics.metrics_endpoint, methods=["GET"], include_in_schema=False)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_body", "detail": errors}, status_code=422)

    for path, (kind, model, to_payload) in ROUTES.items():
        _register(app, path, kind, model, to_payload)

    from queues.uploads_api import router as uploads_router

    app.include_router(uploads_router)

    @app.get("/v1/jobs/{job_id}", response_model=JobView, responses={404: {}})
    async def get_job(job_id: str) -> JobView:
        view = await run_in_threadpool(_job_view, job_id)
        if view is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        return view

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        failures: dict[str, str] = {}
        for name, check in (("database", _check_database), ("broker", _check_broker)):
            try:
                await run_in_threadpool(check)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
        if failures:
            return JSONResponse({"status": "unavailable", "failing": failures}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
