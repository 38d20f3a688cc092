"""The stored PDF summary of each order: rendered by a task, kept in the default storage (never under a
public URL), rendered again only when the data it shows has changed (its content hash)."""

from __future__ import annotations

import logging
import time

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from vaccine_orders.orders.models import Order

from ..models import OrderSummary, summary_upload_to
from ..selectors import OrderFollowUp, order_follow_up, order_follow_ups, summary_content_hash

logger = logging.getLogger(__name__)


def _file_exists(summary: OrderSummary) -> bool:
    return bool(summary.file.name) and default_storage.exists(summary.file.name)


def summaries_render(*, order_ids: list[int], force: bool = False) -> dict[int, OrderSummary]:
    """Render the summaries of these orders whose content changed since the stored one (or all, with
    `force`), store them, and return the summary rows by order id (cancelled or unknown orders are left
    out). The orders, their lines and stored summaries are read once for the whole list."""
    orders = list(
        Order.objects.filter(pk__in=order_ids, status=Order.Status.REGISTERED).select_related(
            "session", "pharmacy__department"
        )
    )
    now = timezone.now()
    follow_ups = order_follow_ups(orders=orders, at=now, reveal=True)
    stored = {summary.order_id: summary for summary in OrderSummary.objects.filter(order__in=orders)}
    result = {}
    for order in orders:
        follow_up = follow_ups[order.pk]
        existing = stored.get(order.pk)
        if not force and summary_is_current(existing, follow_up):
            result[order.pk] = existing
        else:
            result[order.pk] = _render_and_store(order=order, follow_up=follow_up, now=now)
    return result


def summary_render(*, order_id: int, force: bool = False) -> OrderSummary | None:
    """`summaries_render` for one order."""
    return summaries_render(order_ids=[order_id], force=force).get(order_id)


def _render_and_store(*, order: Order, follow_up: OrderFollowUp, now) -> OrderSummary:
    from ..pdf import renderer, summary_html

    started = time.perf_counter()
    cpu_started = time.process_time()
    digest = summary_content_hash(follow_up)
    pdf, page_count = renderer().render(summary_html(follow_up, generated_at=now))
    filename = f"recapitulatif-{order.pharmacy.finess}-{order.reference}-{digest[:16]}.pdf"
    placeholder = OrderSummary(order=order)
    saved_name = default_storage.save(summary_upload_to(placeholder, filename), ContentFile(pdf))
    # Rendering and storing: what one PDF costs a worker (make bench reads this log line).
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    logger.info(
        "summary rendered order=%s pages=%s bytes=%s wall_ms=%s cpu_ms=%s",
        order.pk,
        page_count,
        len(pdf),
        elapsed_ms,
        round((time.process_time() - cpu_started) * 1000),
    )

    with transaction.atomic():
        summary, created = OrderSummary.objects.select_for_update().get_or_create(
            order=order,
            defaults={
                "content_hash": digest,
                "file": saved_name,
                "size": len(pdf),
                "page_count": page_count,
                "render_ms": elapsed_ms,
                "rendered_at": now,
            },
        )
        if not created:
            old_name = summary.file.name
            summary.content_hash = digest
            summary.file.name = saved_name
            summary.size = len(pdf)
            summary.page_count = page_count
            summary.render_ms = elapsed_ms
            summary.rendered_at = now
            summary.save()
            if old_name and old_name != saved_name:
                transaction.on_commit(lambda: default_storage.delete(old_name))
    return summary


def summary_is_current(summary: OrderSummary | None, follow_up: OrderFollowUp) -> bool:
    """Does the stored `summary` show what `follow_up` (read with `reveal=True`) holds now?"""
    return summary is not None and summary.content_hash == summary_content_hash(follow_up) and _file_exists(summary)


def summary_fresh(*, order: Order, follow_up: OrderFollowUp | None = None) -> OrderSummary | None:
    """The stored summary if it shows the order's current data, else None (then ask for a render).
    `follow_up`, if given, must have been read with `reveal=True`."""
    summary = OrderSummary.objects.filter(order=order).first()
    if summary is None:
        return None
    follow_up = follow_up or order_follow_up(order=order, at=timezone.now(), reveal=True)
    return summary if summary_is_current(summary, follow_up) else None


def summary_pdf_bytes(
    *, order: Order, follow_up: OrderFollowUp | None = None, stored: OrderSummary | None = None
) -> bytes:
    """The current summary's bytes, rendering it first when it is missing or out of date (the mailing
    attaches it; by Friday it has usually been rendered at publication). `stored` (with `follow_up`)
    spares a query when the caller loaded the summaries of a whole batch."""
    if stored is not None and follow_up is not None and summary_is_current(stored, follow_up):
        summary = stored
    else:
        summary = summary_fresh(order=order, follow_up=follow_up) or summary_render(order_id=order.pk)
    with default_storage.open(summary.file.name, "rb") as handle:
        return handle.read()
