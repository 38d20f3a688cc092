from __future__ import annotations

from celery import shared_task


@shared_task(name="vaccine_orders.orders.tasks.send_pending_receipts", ignore_result=True)
def send_pending_receipts() -> int:
    """E-mail the receipts of the orders registered, modified or cancelled since their last receipt (the outbox
    on the order rows): woken after each commit, and every minute by beat. Idempotent: rows are claimed."""
    from vaccine_orders.portal.jobs import record_job_run

    from .services import receipts_send_pending

    with record_job_run("send_pending_receipts") as run:
        sent = receipts_send_pending()
        run.last_summary = f"{sent} accusé(s) de réception envoyé(s)"
    return sent
