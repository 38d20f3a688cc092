"""Scheduled work of the calendar app: the end-of-session reminder."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task


@shared_task(name="sessions_calendar.tasks.session_reminders_dispatch", ignore_result=True)
def session_reminders_dispatch() -> None:
    """Beat, every hour of the afternoon (Paris): plan the reminders of the sessions on their last
    afternoon and enqueue them in batches. Running it twice is harmless: each reminder is claimed once."""
    from vaccine_orders.portal.jobs import record_job_run

    from .services.reminders import session_reminders_plan

    with record_job_run("session_reminders_dispatch") as run:
        batches = session_reminders_plan()
        for session_id, pharmacy_ids in batches:
            session_reminders_send_batch.delay(session_id, pharmacy_ids)
        run.last_summary = f"{sum(len(ids) for _, ids in batches)} rappel(s) à envoyer en {len(batches)} lot(s)"


@shared_task(
    name="sessions_calendar.tasks.session_reminders_send_batch",
    ignore_result=True,
    # Safe to re-run (claims), so a worker lost mid-batch hands it to another one.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    max_retries=3,
)
def session_reminders_send_batch(session_id: int, pharmacy_ids: list[int]) -> None:
    from .services.reminders import session_reminders_send

    session_reminders_send(session_id=session_id, pharmacy_ids=pharmacy_ids)
