"""uploads.*: every stored upload is checked, scanned, rendered and published (``workers.uploads.pipeline``).

``uploads.process`` is also the door for files the shop's API server stored itself (under
``STORAGE_ROOT/incoming/``, with an ``uploaded_files`` row pointing at them).
"""

from __future__ import annotations

from typing import Any

from workers.taskbase import job_task
from workers.uploads import pipeline


@job_task("uploads.process")
def process(self: Any, file_id: int) -> dict[str, Any]:
    """Size, virus scan, real type, image header and quotas; an accepted file goes to uploads.render."""
    return pipeline.process_upload(file_id)


@job_task("uploads.render")
def render(self: Any, file_id: int) -> dict[str, Any]:
    """Master, thumbnails and WebP variants from one decode, then publish (routed to queue imaging)."""
    return pipeline.render_upload(file_id)
