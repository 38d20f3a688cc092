"""Recording scheduled job runs, so that the admin and /healthz can tell when each last ran."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.utils import timezone

from .models import ScheduledJobRun


@contextlib.contextmanager
def record_job_run(name: str) -> Iterator[ScheduledJobRun]:
    """Wrap a scheduled job's body: marks it running, then success (with `run.last_summary` if the body
    set it) or failed with the error, which is re-raised for Celery to see."""
    run, _ = ScheduledJobRun.objects.get_or_create(name=name)
    run.last_started_at = timezone.now()
    run.last_status = ScheduledJobRun.Status.RUNNING
    run.last_summary = ""
    run.save(update_fields=["last_started_at", "last_status", "last_summary"])
    try:
        yield run
    except Exception as exc:
        run.last_status = ScheduledJobRun.Status.FAILED
        run.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        run.last_finished_at = timezone.now()
        run.save(update_fields=["last_status", "last_error", "last_finished_at"])
        raise
    run.last_status = ScheduledJobRun.Status.SUCCESS
    run.last_error = ""
    run.last_finished_at = timezone.now()
    run.save(update_fields=["last_status", "last_error", "last_finished_at", "last_summary"])


def beat_job_names() -> dict[str, str]:
    """The record name of every job of the beat schedule → its schedule, in words. By convention a scheduled task
    records its runs under the last part of its name (tests/security/test_retention.py runs each one to check)."""
    from django.conf import settings

    return {
        entry["task"].rsplit(".", 1)[-1]: _schedule_words(entry["schedule"])
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def _schedule_words(schedule: object) -> str:
    fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    parts = [getattr(schedule, f"_orig_{field}", None) for field in fields]
    if all(part is not None for part in parts):
        return "cron « " + " ".join(str(part) for part in parts) + " » (heure de Paris)"
    return str(schedule)


def scheduled_jobs_sync() -> None:
    """A row for every scheduled job, so that a job that never ran shows as such in the admin."""
    names = beat_job_names()
    existing = set(ScheduledJobRun.objects.filter(name__in=names).values_list("name", flat=True))
    missing = [ScheduledJobRun(name=name) for name in names if name not in existing]
    if missing:
        ScheduledJobRun.objects.bulk_create(missing, ignore_conflicts=True)
