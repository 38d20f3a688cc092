from __future__ import annotations

from celery import shared_task


@shared_task(name="vaccine_orders.portal.tasks.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Proves that beat schedules and a worker executes: /healthz reads the time of the last run."""
    from .jobs import record_job_run

    with record_job_run("beat_heartbeat") as run:
        run.last_summary = "ok"


# Mail relays fail transiently (timeouts, 4xx greylisting): retry with a back-off, then give up loudly.
_MAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 6}


@shared_task(name="vaccine_orders.portal.tasks.support_send_acknowledgement", ignore_result=True, **_MAIL_RETRY)
def support_send_acknowledgement_task(support_request_id: int) -> None:
    """The acknowledgement of a support request with its ticket reference (sent once, see the service)."""
    from .services import support_acknowledgement_send

    support_acknowledgement_send(support_request_id=support_request_id)


@shared_task(name="vaccine_orders.portal.tasks.support_send_reply", ignore_result=True, **_MAIL_RETRY)
def support_send_reply_task(message_id: int) -> None:
    """A reply of the support desk, e-mailed to the requester (sent once, see the service)."""
    from .services import support_reply_send

    support_reply_send(message_id=message_id)


@shared_task(name="vaccine_orders.portal.tasks.personal_data_purge", ignore_result=True)
def personal_data_purge_task() -> None:
    """Every night: the journal and the support requests past their retention period (portal.retention)."""
    from django.utils import timezone

    from .jobs import record_job_run
    from .retention import personal_data_purge

    with record_job_run("personal_data_purge") as run:
        run.last_summary = personal_data_purge(now=timezone.now()).summary[:255]
