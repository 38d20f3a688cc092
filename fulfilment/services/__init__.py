"""Writes of the fulfilment app, one module per concern; import from here."""

from .confirmation import (
    AllocationMethod,
    AllocationPlan,
    allocation_apply,
    allocation_plan,
    default_rounding,
    delivery_dates_set,
    line_confirm,
    line_mark_delivered,
    lines_confirm_as_ordered,
    lines_mark_delivered,
    products_over_stock,
    summaries_refresh_on_commit,
)
from .exports import (
    EXPORT_COLUMNS,
    logistics_export_generate,
    logistics_export_request,
    logistics_export_send,
)
from .mailing import (
    mailing_dispatch,
    mailing_prepare,
    mailing_progress,
    outbox_reclaim_stale,
    outbox_resend,
    outbox_send_batch,
)
from .publication import sessions_publish_due
from .summaries import summaries_render, summary_fresh, summary_pdf_bytes, summary_render

__all__ = [
    "EXPORT_COLUMNS",
    "AllocationMethod",
    "AllocationPlan",
    "allocation_apply",
    "allocation_plan",
    "default_rounding",
    "delivery_dates_set",
    "line_confirm",
    "line_mark_delivered",
    "lines_confirm_as_ordered",
    "lines_mark_delivered",
    "logistics_export_generate",
    "logistics_export_request",
    "logistics_export_send",
    "mailing_dispatch",
    "mailing_prepare",
    "mailing_progress",
    "outbox_reclaim_stale",
    "outbox_resend",
    "outbox_send_batch",
    "products_over_stock",
    "sessions_publish_due",
    "summaries_refresh_on_commit",
    "summaries_render",
    "summary_fresh",
    "summary_pdf_bytes",
    "summary_render",
]
