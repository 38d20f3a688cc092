"""Celery tasks of the fulfilment app: they take ids, call a service, return.

Routing (settings CELERY_TASK_ROUTES): names containing "mail" go to the `mail` queue, "pdf" to `pdf`.
Scheduled ones (publication, Friday mailing, sweep) wrap their body in `record_job_run`.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(name="fulfilment.tasks.render_summaries_pdf", ignore_result=True, acks_late=True)
def render_summaries_pdf(order_ids: list[int]) -> None:
    """Render the PDF summaries of these orders whose content changed (idempotent: re-running skips them)."""
    from .services.summaries import summaries_render

    summaries_render(order_ids=order_ids)


@shared_task(name="fulfilment.tasks.publish_due_confirmations", ignore_result=True)
def publish_due_confirmations() -> None:
    from vaccine_orders.audit.actors import Actor
    from vaccine_orders.portal.jobs import record_job_run

    from .services.publication import sessions_publish_due

    with record_job_run("publish_due_confirmations") as run:
        published = sessions_publish_due(at=timezone.now(), actor=Actor.system("Publication des confirmations"))
        run.last_summary = f"{len(published)} session(s) publiée(s)" + (f" : {published}" if published else "")


# Preparing 40,000 outbox rows and queueing 200 batches takes longer than the default 60 s soft limit.
@shared_task(name="fulfilment.tasks.friday_mailing", ignore_result=True, soft_time_limit=900, time_limit=1200)
def friday_mailing() -> None:
    """Friday morning: prepare the mailing of the sessions published this week, then send what is due."""
    from vaccine_orders.audit.actors import Actor
    from vaccine_orders.portal.jobs import record_job_run

    from .selectors import sessions_due_for_mailing
    from .services.mailing import mailing_dispatch, mailing_prepare

    with record_job_run("friday_mailing") as run:
        now = timezone.now()
        actor = Actor.system("Publipostage du vendredi")
        created = sum(mailing_prepare(session=s, actor=actor, at=now) for s in sessions_due_for_mailing(at=now))
        batches = mailing_dispatch(at=now)
        run.last_summary = f"{created} message(s) préparé(s), {batches} lot(s) mis en file"


@shared_task(name="fulfilment.tasks.mailing_sweep", ignore_result=True, soft_time_limit=900, time_limit=1200)
def mailing_sweep() -> None:
    """Every few minutes: retries that are due, rows of dead workers or lost tasks, resends."""
    from vaccine_orders.portal.jobs import record_job_run

    from .services.mailing import mailing_dispatch

    with record_job_run("mailing_sweep") as run:
        batches = mailing_dispatch(at=timezone.now())
        run.last_summary = f"{batches} lot(s) mis en file"


@shared_task(
    name="fulfilment.tasks.send_mail_batch",
    ignore_result=True,
    # Safe to run twice: rows are claimed by conditional UPDATE, a second run finds nothing to claim.
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
)
def send_mail_batch(message_ids: list[int]) -> dict:
    from dataclasses import asdict

    from .services.mailing import outbox_send_batch

    return asdict(outbox_send_batch(message_ids=message_ids))


@shared_task(name="fulfilment.tasks.generate_logistics_export", ignore_result=True)
def generate_logistics_export(export_id: int) -> None:
    from .services.exports import logistics_export_generate

    logistics_export_generate(export_id=export_id)
