"""Publication of a session's confirmations.

Visibility itself is exact to the second and needs no job: the selectors compare the time with the
session's publication instant. The scheduled job does the side effects once per session: it records the
publication and renders every order's PDF summary ahead of the Wednesday 18:00 rush of downloads.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.orders.models import Order

from ..models import SessionFulfilment
from ..selectors import publication_instant, sessions_due_for_publication
from .confirmation import summaries_refresh_on_commit


def sessions_publish_due(*, at: datetime, actor: Actor) -> list[int]:
    """Publish every session whose instant has passed and that has not been published yet. Returns their
    ids. Safe to run twice at once (a beat tick doubled by a daylight-saving change): the conditional
    UPDATE lets one run win per session."""
    published = []
    for session in sessions_due_for_publication(at=at):
        with transaction.atomic():
            fulfilment, _ = SessionFulfilment.objects.get_or_create(session=session)
            won = SessionFulfilment.objects.filter(pk=fulfilment.pk, published_at__isnull=True).update(published_at=at)
            if not won:
                continue
            order_ids = list(
                Order.objects.filter(session=session, status=Order.Status.REGISTERED).values_list("pk", flat=True)
            )
            audit_record(
                actor=actor,
                action="fulfilment.confirmations_published",
                target=session,
                summary=(
                    f"Confirmations de la session du {session.label_dates} publiées "
                    f"(instant prévu : {publication_instant(session=session):%d/%m/%Y %H:%M}, "
                    f"{len(order_ids)} commande(s))"
                ),
            )
            summaries_refresh_on_commit(order_ids)
        published.append(session.pk)
    return published
