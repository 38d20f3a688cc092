"""The officine's "Suivi de commande": its orders per session, what logistics confirmed and delivered, and
the PDF summary. Only the officine's own orders are found (any other reference is a 404), and nothing
confirmed is shown before the session's publication instant."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import pharmacy_required
from vaccine_orders.orders.models import Order

from .selectors import confirmations_visible, follow_up_list, order_follow_up, order_for_pharmacy
from .services.summaries import summary_fresh


def _get_order_for_pharmacy(request: HttpRequest, reference: str) -> Order:
    order = order_for_pharmacy(pharmacy=request.pharmacy, reference=reference)
    if order is None:
        raise Http404("Commande introuvable.")
    return order


@pharmacy_required
def follow_up_list_view(request: HttpRequest) -> HttpResponse:
    rows = follow_up_list(pharmacy=request.pharmacy, at=timezone.now())
    return render(request, "fulfilment/list.html", {"rows": rows, "page_title": "Suivi de commande"})


@pharmacy_required
def follow_up_detail_view(request: HttpRequest, reference: str) -> HttpResponse:
    order = _get_order_for_pharmacy(request, reference)
    follow_up = order_follow_up(order=order, at=timezone.now())
    return render(
        request,
        "fulfilment/detail.html",
        {"follow_up": follow_up, "order": order, "page_title": f"Suivi de commande {order.reference}"},
    )


@pharmacy_required
def summary_pdf_view(request: HttpRequest, reference: str) -> HttpResponse:
    """The stored PDF, streamed from the default storage after the ownership check (never a media URL)."""
    from .tasks import render_summaries_pdf

    order = _get_order_for_pharmacy(request, reference)
    if not confirmations_visible(session=order.session, at=timezone.now()):
        raise Http404("Le récapitulatif sera disponible après la publication des confirmations.")
    summary = summary_fresh(order=order)
    if summary is None:
        # Out of date or missing: a worker renders it (at once in development, where tasks run eagerly).
        render_summaries_pdf.delay_on_commit([order.pk])
        summary = summary_fresh(order=order)
    if summary is None:
        return render(
            request,
            "fulfilment/summary_pending.html",
            {"order": order, "page_title": "Récapitulatif en préparation"},
            status=202,
        )
    response = FileResponse(
        default_storage.open(summary.file.name, "rb"),
        as_attachment=True,
        filename=f"recapitulatif-commande-{order.reference}.pdf",
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response
