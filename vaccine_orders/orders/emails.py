"""The receipt e-mail ("commande enregistrée"), in text and HTML."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Order
from .selectors import order_lines, totals_by_product

logger = logging.getLogger(__name__)


def send_receipt(*, order: Order, connection=None) -> bool:
    """Send the receipt of `order` as it is now; False when the officine has no address (nothing to send)."""
    pharmacy = order.pharmacy
    if not pharmacy.email:
        logger.warning("receipt not sent: officine %s has no e-mail address", pharmacy.finess)
        return False
    lines = order_lines(order=order)
    context = {
        "order": order,
        "pharmacy": pharmacy,
        "session": order.session,
        "totals": totals_by_product(lines),
        "cancelled": order.status == Order.Status.CANCELLED,
        "url": settings.SITE_URL + reverse("orders:detail", args=[order.reference]),
    }
    verb = "annulée" if context["cancelled"] else "enregistrée"
    message = EmailMultiAlternatives(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}Commande {order.reference} {verb}",
        body=render_to_string("orders/email/receipt.txt", context),
        to=[pharmacy.email],
        connection=connection,
    )
    message.attach_alternative(render_to_string("orders/email/receipt.html", context), "text/html")
    message.send()
    return True
