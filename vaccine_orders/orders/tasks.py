from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(
    name="vaccine_orders.orders.tasks.send_order_receipt",
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError, OSError),
    retry_backoff=True,
    max_retries=5,
)
def send_order_receipt(*, order_id: int, version: int) -> None:
    """E-mail the officine that its order is registered (or cancelled). Not a delivery confirmation."""
    from .emails import send_receipt
    from .models import Order

    order = Order.objects.select_related("pharmacy", "session").filter(pk=order_id).first()
    if order is None or order.version != version:
        return  # a newer version superseded this one: its own receipt follows
    send_receipt(order=order)
