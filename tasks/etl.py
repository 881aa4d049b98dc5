"""etl.*: PostgreSQL → analytics store documents (see ``workers.etl``), run by beat or by hand.

``slot_s`` is set by beat only (the entry's period): a second beat's run of the same slot does nothing.
"""

from __future__ import annotations

from typing import Any

from workers.etl import FEEDBACK_ANALYTICS, USER_FEEDBACK_JOURNEY, run_task
from workers.taskbase import job_task


@job_task("etl.feedback_analytics")
def feedback_analytics(self: Any, full: bool = False, slot_s: int | None = None) -> dict[str, Any]:
    """One ``feedback_analytics`` document per product: changed products, or all with ``full``."""
    return run_task(FEEDBACK_ANALYTICS, full=full, job_id=self.request.id, slot_s=slot_s)


@job_task("etl.user_feedback_journey")
def user_feedback_journey(self: Any, full: bool = False, slot_s: int | None = None) -> dict[str, Any]:
    """One ``user_feedback_journey`` document per user: changed users, or all with ``full``."""
    return run_task(USER_FEEDBACK_JOURNEY, full=full, job_id=self.request.id, slot_s=slot_s)
