"""Celery tasks of the effectors app. They take ids, call a service, return."""

from __future__ import annotations

from celery import shared_task


# An RPPS import takes a few minutes: far above the project's default 60 s soft limit.
@shared_task(soft_time_limit=3600, time_limit=3900)
def referential_import_task(import_id: int) -> None:
    from .referential.runner import referential_import_run

    referential_import_run(import_id=import_id)
