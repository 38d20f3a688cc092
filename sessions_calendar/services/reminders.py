"""The end-of-session reminder: on the last afternoon of a session, an e-mail to the officines that ordered
in one of the last four sessions and have not ordered in this one.

Sent at most once per officine and session whatever the retries: a SessionReminder row is claimed (inserted,
unique per session and officine) before the e-mail goes, and marked sent after. A crash between the two
leaves the claim in place, so the reminder is never sent twice (a missed reminder is better than two). A
failure reported by the mail server marks the claim "failed", which a retry may claim again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Pharmacy
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from ..formatting import day_range, hour, long_date
from ..models import OrderSession, SessionReminder
from ..selectors import reminder_sessions_due, reminder_targets

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "sessions_calendar.reminders.unsubscribe"
BATCH_SIZE = 200


@dataclass
class BatchResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0


def reminder_unsubscribe_token(*, pharmacy: Pharmacy) -> str:
    """A signed, stable token (the same link in every reminder): it only ever turns reminders off."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"p": pharmacy.pk})


def reminder_unsubscribe_pharmacy(*, token: str) -> Pharmacy | None:
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature:
        return None
    return Pharmacy.objects.filter(pk=data.get("p")).first() if isinstance(data, dict) else None


def pharmacy_set_reminders(*, pharmacy: Pharmacy, enabled: bool, actor: Actor) -> bool:
    """Turn the officine's end-of-session reminder on or off; audited. Returns whether anything changed."""
    with transaction.atomic():
        changed = (
            Pharmacy.objects.filter(pk=pharmacy.pk).exclude(reminders_enabled=enabled).update(reminders_enabled=enabled)
        )
        pharmacy.reminders_enabled = enabled
        if changed:
            audit_record(
                actor=actor,
                action="pharmacy.reminders_enabled" if enabled else "pharmacy.reminders_disabled",
                target=pharmacy,
                pharmacy=pharmacy,
                summary="Rappels de fin de session activés." if enabled else "Rappels de fin de session désactivés.",
                before={"reminders_enabled": not enabled},
                after={"reminders_enabled": enabled},
            )
    return bool(changed)


def reminder_claim(*, session_id: int, pharmacy_id: int, email: str) -> bool:
    """Claim the right to send this reminder: True for exactly one caller, ever (unless a send failed)."""
    try:
        with transaction.atomic():
            SessionReminder.objects.create(session_id=session_id, pharmacy_id=pharmacy_id, email=email)
        return True
    except IntegrityError:
        pass
    # The row exists. Only a failed attempt may be claimed again, by a conditional update: two retries
    # racing for it cannot both win.
    return bool(
        SessionReminder.objects.filter(
            session_id=session_id, pharmacy_id=pharmacy_id, status=SessionReminder.Status.FAILED
        ).update(
            status=SessionReminder.Status.CLAIMED, attempts=F("attempts") + 1, claimed_at=timezone.now(), email=email
        )
    )


def _absolute(url_name: str, fallback: str = "home", **kwargs: object) -> str:
    try:
        path = reverse(url_name, kwargs=kwargs or None)
    except NoReverseMatch:
        path = reverse(fallback)
    return f"{settings.SITE_URL}{path}"


def reminder_message(*, session: OrderSession, pharmacy: Pharmacy) -> EmailMultiAlternatives:
    closes = timezone.localtime(session.closes_at)
    unsubscribe_url = _absolute(
        "sessions_calendar:reminders_unsubscribe", token=reminder_unsubscribe_token(pharmacy=pharmacy)
    )
    context = {
        "pharmacy": pharmacy,
        "session": session,
        "closing_day": long_date(closes.date(), year=False),
        "closing_hour": hour(closes.time()),
        "delivery": day_range(session.delivery_start, session.delivery_end)
        if session.delivery_start and session.delivery_end
        else "",
        "order_url": _absolute("orders:start"),
        "calendar_url": _absolute("sessions_calendar:calendar"),
        "preferences_url": _absolute("sessions_calendar:reminders"),
        "unsubscribe_url": unsubscribe_url,
        "SERVICE_NAME": settings.SERVICE_NAME,
    }
    subject = render_to_string("sessions_calendar/email/reminder_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
        body=render_to_string("sessions_calendar/email/reminder.txt", context),
        to=[pharmacy.email],
        headers={"List-Unsubscribe": f"<{unsubscribe_url}>"},
    )
    message.attach_alternative(render_to_string("sessions_calendar/email/reminder.html", context), "text/html")
    return message


def session_reminders_send(*, session_id: int, pharmacy_ids: list[int], now: datetime | None = None) -> BatchResult:
    """Send the reminder of one session to a batch of officines: claim, send, mark, one by one.

    Targets are re-read here (an officine may have ordered or opted out since the batch was planned).
    Raises the last mail error after the whole batch, so that Celery retries the failed ones only.
    """
    now = now or timezone.now()
    result = BatchResult()
    session = OrderSession.objects.select_related("pilot_group").filter(pk=session_id).first()
    if session is None or not session.is_open_at(now):
        result.skipped = len(pharmacy_ids)
        return result
    targets = {p.pk: p for p in reminder_targets(session=session).filter(pk__in=pharmacy_ids)}
    error: Exception | None = None
    for pharmacy_id in pharmacy_ids:
        pharmacy = targets.get(pharmacy_id)
        if pharmacy is None or not reminder_claim(session_id=session.pk, pharmacy_id=pharmacy.pk, email=pharmacy.email):
            result.skipped += 1
            continue
        try:
            reminder_message(session=session, pharmacy=pharmacy).send()
        except Exception as exc:  # any mail failure: record it, go on, let Celery retry
            logger.warning("reminder to pharmacy %s failed: %s", pharmacy.pk, exc)
            SessionReminder.objects.filter(session=session, pharmacy=pharmacy).update(
                status=SessionReminder.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:255]
            )
            result.failed += 1
            error = exc
            continue
        SessionReminder.objects.filter(session=session, pharmacy=pharmacy).update(
            status=SessionReminder.Status.SENT, sent_at=timezone.now(), last_error=""
        )
        result.sent += 1
    if error is not None:
        raise error
    return result


def session_reminders_plan(*, now: datetime | None = None) -> list[tuple[int, list[int]]]:
    """(session id, batch of officine ids) to send now: sessions on their last afternoon, officines not
    yet reminded for them."""
    now = now or timezone.now()
    batches: list[tuple[int, list[int]]] = []
    for session in reminder_sessions_due(now=now):
        already = SessionReminder.objects.filter(session=session).exclude(status=SessionReminder.Status.FAILED)
        ids = list(
            reminder_targets(session=session).exclude(pk__in=already.values("pharmacy_id")).values_list("pk", flat=True)
        )
        batches.extend((session.pk, ids[i : i + BATCH_SIZE]) for i in range(0, len(ids), BATCH_SIZE))
    return batches
