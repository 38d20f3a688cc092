"""Celery tasks of the reports: they take ids or nothing, call a service, return."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


# A first run (or one after days of a stopped worker) may build up to 7 days × 18 regions: more than the
# default 60 s soft limit.
@shared_task(name="fulfilment.reports.tasks.daily_reports", ignore_result=True, soft_time_limit=900, time_limit=1200)
def daily_reports() -> None:
    """Each morning at 06:30 (Paris, settings CELERY_BEAT_SCHEDULE): the previous day's report of every region,
    stored; the e-mails to the agents who subscribed; the reports older than 90 days deleted. Idempotent: a
    second run the same morning generates and sends nothing more."""
    from vaccine_orders.portal.jobs import record_job_run

    from .services import daily_reports_run

    with record_job_run("daily_reports") as run:
        run.last_summary = str(daily_reports_run(at=timezone.now()))
