"""Upload intake (POST /v1/uploads, GET /v1/files/{id})."""

from fastapi import APIRouter

router = APIRouter()
