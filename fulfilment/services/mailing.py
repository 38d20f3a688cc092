"""The Friday mailing, built on an outbox (PERFORMANCE.md §4.2).

1. `mailing_prepare` inserts one `OutboxMessage` per recipient and session; the unique `key` makes a
   second preparation a no-op.
2. `mailing_dispatch` moves due rows from "pending" to "queued" by conditional UPDATE and enqueues them in
   batches; it also takes back rows whose worker died ("sending" for longer than the claim timeout) or
   whose task was lost ("queued" for longer than the queue timeout).
3. `outbox_send_batch` claims its rows ("queued" → "sending" with a token, by conditional UPDATE: two
   workers can never both send a row), sends them over ONE SMTP connection, and marks each row "sent"
   right after its message is accepted. A worker killed with kill -9 therefore leaves at most the one
   message it was sending "sent but not marked": after the claim timeout it is sent again and counted
   in `reclaims`. Transient SMTP failures go back to "pending" with an exponential backoff (the delay is
   stored in the row, not in a Celery ETA: long ETAs on Redis are redelivered in a loop); permanent
   ones (5xx) become "failed" and are listed in the admin, with a resend action.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from itertools import islice

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Pharmacy
from sessions_calendar.models import OrderSession
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.orders.models import Order, OrderLine

from ..models import OrderSummary, OutboxMessage, SessionFulfilment
from ..selectors import (
    RANK_LABELS,
    UNIT_PLURALS,
    OrderFollowUp,
    confirmations_visible,
    delivery_dates_for_sessions,
    order_follow_ups,
    publication_instant,
    region_id_of,
)
from .summaries import summary_pdf_bytes

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


def _conf(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def batch_size() -> int:
    return _conf("FULFILMENT_MAILING_BATCH_SIZE", 200)


def claim_timeout() -> timedelta:
    return timedelta(seconds=_conf("FULFILMENT_MAILING_CLAIM_TIMEOUT", 600))


def queue_timeout() -> timedelta:
    return timedelta(seconds=_conf("FULFILMENT_MAILING_QUEUE_TIMEOUT", 3600))


def max_attempts() -> int:
    return _conf("FULFILMENT_MAILING_MAX_ATTEMPTS", 5)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8… times the base delay, at most an hour."""
    base = _conf("FULFILMENT_MAILING_RETRY_BASE", 60)
    return timedelta(seconds=min(3600, base * 2 ** max(0, attempts - 1)))


# --- 1. Prepare ---------------------------------------------------------------------------------------


def mailing_prepare(*, session: OrderSession, actor: Actor, at: datetime | None = None) -> int:
    """Create the outbox rows of `session`: one per officine with a confirmed line, and one per doctor,
    midwife and dental surgeon (types with `receives_mailing`) with an e-mail and a confirmed line.
    Lines confirmed at zero count: the recipient must know before opening appointments. Returns the
    number of rows created (0 when it was prepared before)."""
    at = at or timezone.now()
    with transaction.atomic():
        fulfilment, _ = SessionFulfilment.objects.get_or_create(session=session)
        # Serialise two preparations of the same session (the unique key would hold anyway).
        fulfilment = SessionFulfilment.objects.select_for_update().get(pk=fulfilment.pk)
        confirmed = OrderLine.objects.filter(
            order__session=session, order__status=Order.Status.REGISTERED, quantity_confirmed__isnull=False
        )
        pharmacy_ids = set(confirmed.values_list("order__pharmacy_id", flat=True).distinct())
        pharmacy_rows = (
            OutboxMessage(
                key=f"{session.pk}:pharmacy:{pharmacy_id}",
                session=session,
                kind=OutboxMessage.Kind.PHARMACY,
                pharmacy_id=pharmacy_id,
                email=email,
                status=Status.PENDING if email else Status.FAILED,
                last_error="" if email else "Aucune adresse e-mail pour cette officine.",
                next_attempt_at=at,
            )
            for pharmacy_id, email in Pharmacy.objects.filter(pk__in=pharmacy_ids).values_list("pk", "email")
        )
        professionals = (
            confirmed.filter(effector__professional__isnull=False, effector__type__receives_mailing=True)
            .exclude(effector__professional__email="")
            .values_list("effector__professional_id", "effector__professional__email", "order__pharmacy_id")
            .order_by("order__validated_at", "pk")
        )
        seen: set[int] = set()

        def professional_rows():
            for professional_id, email, pharmacy_id in professionals.iterator(chunk_size=5000):
                if professional_id in seen:
                    continue
                seen.add(professional_id)
                yield OutboxMessage(
                    key=f"{session.pk}:professional:{professional_id}",
                    session=session,
                    kind=OutboxMessage.Kind.PROFESSIONAL,
                    pharmacy_id=pharmacy_id,
                    professional_id=professional_id,
                    email=email,
                    next_attempt_at=at,
                )

        before = OutboxMessage.objects.filter(session=session).count()
        # In slices: 40,000 model instances at once would add some 40 MB to the worker for nothing.
        for rows in (pharmacy_rows, professional_rows()):
            while chunk := list(islice(rows, 2000)):
                OutboxMessage.objects.bulk_create(chunk, ignore_conflicts=True)
        created = OutboxMessage.objects.filter(session=session).count() - before
        if fulfilment.mailing_prepared_at is None:
            fulfilment.mailing_prepared_at = at
            fulfilment.save(update_fields=["mailing_prepared_at", "updated_at"])
        audit_record(
            actor=actor,
            action="fulfilment.mailing_prepared",
            target=session,
            summary=f"Publipostage de la session du {session.label_dates} : {created} message(s) préparé(s)",
        )
    return created


# --- 2. Dispatch --------------------------------------------------------------------------------------


def outbox_reclaim_stale(*, at: datetime) -> tuple[int, int]:
    """Take back rows whose worker died while sending them, and rows whose batch task was lost.
    Returns (reclaimed "sending", requeued "queued")."""
    stale_claim = at - claim_timeout()
    # A row claimed again and again without ever finishing (a message that kills its worker) stops here.
    OutboxMessage.objects.filter(
        status=Status.SENDING, claimed_at__lt=stale_claim, attempts__gte=max_attempts()
    ).update(
        status=Status.FAILED,
        claim_token=None,
        last_error="Envoi interrompu à chaque tentative (worker arrêté pendant l'envoi).",
    )
    reclaimed = OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=stale_claim).update(
        status=Status.PENDING,
        claim_token=None,
        reclaims=F("reclaims") + 1,
        next_attempt_at=at,
        last_error="Reprise après l'interruption d'un envoi : un doublon est possible.",
    )
    requeued = OutboxMessage.objects.filter(status=Status.QUEUED, queued_at__lt=at - queue_timeout()).update(
        status=Status.PENDING, next_attempt_at=at
    )
    return reclaimed, requeued


def mailing_dispatch(*, at: datetime | None = None, size: int | None = None) -> int:
    """Queue every due pending row, in batches of `size`, each batch as one task. Returns the number of
    batches enqueued."""
    from ..tasks import send_mail_batch

    at = at or timezone.now()
    size = size or batch_size()
    outbox_reclaim_stale(at=at)
    batches = 0
    while True:
        with transaction.atomic():
            due = OutboxMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=at).order_by(
                "next_attempt_at", "pk"
            )
            if db_connection.features.has_select_for_update_skip_locked:
                # Two dispatchers at once (the Friday job and the sweep) split the rows instead of waiting.
                due = due.select_for_update(skip_locked=True)
            ids = list(due.values_list("pk", flat=True)[:size])
            if not ids:
                break
            OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(status=Status.QUEUED, queued_at=at)
            send_mail_batch.delay_on_commit(ids)
        batches += 1
    return batches


def outbox_resend(*, message_ids: list[int], actor: Actor) -> int:
    """Send again failed messages (after the address was corrected, for instance). Returns how many."""
    from ..tasks import mailing_sweep

    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update()
            .filter(pk__in=message_ids, status=Status.FAILED)
            .select_related("session")
            .order_by("pk")
        )
        if not rows:
            return 0
        OutboxMessage.objects.filter(pk__in=[r.pk for r in rows], status=Status.FAILED).update(
            status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token=None
        )
        for row in rows:
            audit_record(
                actor=actor,
                action="fulfilment.mail_resent",
                target=row,
                pharmacy=row.pharmacy,
                summary=f"Nouvel envoi demandé ({row.get_kind_display()}, {row.email or 'sans adresse'}) "
                f"après : {row.last_error[:200]}",
            )
        mailing_sweep.delay_on_commit()
    return len(rows)


# --- 3. Send ------------------------------------------------------------------------------------------


class MessageNotSendable(Exception):
    """The message cannot be written (no address, no order any more): a permanent failure."""


def _sender_domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "commande-vaccins.example"


def _message_id(row: OutboxMessage) -> str:
    # Deterministic: a duplicate carries the same Message-ID, which mail clients and logs can spot.
    recipient = row.professional_id if row.kind == OutboxMessage.Kind.PROFESSIONAL else row.pharmacy_id
    return f"<confirmation-{row.session_id}-{row.kind}-{recipient}@{_sender_domain()}>"


def _common_context(session: OrderSession) -> dict:
    return {
        "session": session,
        "site_url": settings.SITE_URL,
        "support_url": f"{settings.SITE_URL}/support/",
        "service_name": settings.SERVICE_NAME,
    }


@dataclass
class BatchData:
    """What the messages of a batch show, read in a handful of queries for the whole batch (instead of
    six or so per message): the officines' follow-ups and stored PDFs, the professionals' lines."""

    at: datetime
    follow_ups: dict[tuple[int, int], OrderFollowUp] = field(default_factory=dict)  # (session, pharmacy)
    summaries: dict[int, OrderSummary] = field(default_factory=dict)  # order id → stored PDF
    professional_lines: dict[tuple[int, int], list[OrderLine]] = field(default_factory=dict)  # (session, prof.)
    dates: dict[tuple[int, int | None], date | None] = field(default_factory=dict)  # (session, region)

    @classmethod
    def load(cls, rows: list[OutboxMessage], *, at: datetime) -> BatchData:
        data = cls(at=at)
        pharmacy_keys = {(r.session_id, r.pharmacy_id) for r in rows if r.kind == OutboxMessage.Kind.PHARMACY}
        if pharmacy_keys:
            orders = [
                order
                for order in Order.objects.filter(
                    status=Order.Status.REGISTERED,
                    session_id__in={s for s, _ in pharmacy_keys},
                    pharmacy_id__in={p for _, p in pharmacy_keys},
                ).select_related("session", "pharmacy__department")
                if (order.session_id, order.pharmacy_id) in pharmacy_keys
            ]
            follow_ups = order_follow_ups(orders=orders, at=at, reveal=True)
            data.follow_ups = {(o.session_id, o.pharmacy_id): follow_ups[o.pk] for o in orders}
            data.summaries = {s.order_id: s for s in OrderSummary.objects.filter(order_id__in=follow_ups)}
        professional_keys = {
            (r.session_id, r.professional_id) for r in rows if r.kind == OutboxMessage.Kind.PROFESSIONAL
        }
        if professional_keys:
            lines = (
                OrderLine.objects.filter(
                    order__session_id__in={s for s, _ in professional_keys},
                    order__status=Order.Status.REGISTERED,
                    effector__professional_id__in={p for _, p in professional_keys},
                    quantity_confirmed__isnull=False,
                )
                .select_related("product", "order__pharmacy__department", "effector")
                .order_by("order__pharmacy_id", "product__sort_order", "product__name", "injection_rank")
            )
            for line in lines:
                key = (line.order.session_id, line.effector.professional_id)
                if key in professional_keys:
                    data.professional_lines.setdefault(key, []).append(line)
        return data

    def delivery_date(self, session: OrderSession, pharmacy: Pharmacy) -> date | None:
        key = (session.pk, region_id_of(pharmacy))
        if key not in self.dates:
            self.dates[key] = delivery_dates_for_sessions(sessions=[session], region_id=key[1])[session.pk]
        return self.dates[key]


def _pharmacy_message(row: OutboxMessage, data: BatchData) -> EmailMultiAlternatives:
    pharmacy = row.pharmacy
    if not pharmacy.email:
        raise MessageNotSendable("Aucune adresse e-mail pour cette officine.")
    follow_up = data.follow_ups.get((row.session_id, row.pharmacy_id))
    if follow_up is None:
        raise MessageNotSendable("La commande de l'officine n'existe plus (annulée).")
    order = follow_up.order
    context = {**_common_context(order.session), "follow_up": follow_up, "pharmacy": pharmacy, "order": order}
    message = EmailMultiAlternatives(
        subject=f"Confirmation de livraison de vaccins – session du {order.session.label_dates}",
        body=render_to_string("fulfilment/email/confirmation_pharmacy.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[pharmacy.email],
        headers={"Message-ID": _message_id(row)},
    )
    message.attach_alternative(render_to_string("fulfilment/email/confirmation_pharmacy.html", context), "text/html")
    message.attach(
        f"recapitulatif-commande-{order.reference}.pdf",
        summary_pdf_bytes(order=order, follow_up=follow_up, stored=data.summaries.get(order.pk)),
        "application/pdf",
    )
    return message


@dataclass
class ProfessionalPickup:
    pharmacy: Pharmacy
    delivery_date: date | None
    appointments_from: date | None
    lines: list[dict]


def _professional_message(row: OutboxMessage, data: BatchData) -> EmailMultiAlternatives:
    professional = row.professional
    if not professional.email:
        raise MessageNotSendable("Aucune adresse e-mail pour ce professionnel.")
    session = row.session
    lines = data.professional_lines.get((row.session_id, row.professional_id), [])
    if not lines:
        raise MessageNotSendable("Plus aucune quantité confirmée pour ce professionnel.")
    pickups: dict[int, ProfessionalPickup] = {}
    for line in lines:
        pharmacy = line.order.pharmacy
        if pharmacy.pk not in pickups:
            delivery = data.delivery_date(session, pharmacy)
            pickups[pharmacy.pk] = ProfessionalPickup(
                pharmacy=pharmacy,
                delivery_date=delivery,
                appointments_from=delivery + timedelta(days=1) if delivery else None,
                lines=[],
            )
        pickups[pharmacy.pk].lines.append(
            {
                "product": line.product.name,
                "rank": RANK_LABELS.get(line.injection_rank, ""),
                "unit": UNIT_PLURALS.get(line.product.unit, line.product.get_unit_display()),
                "requested": line.quantity_requested,
                "confirmed": line.quantity_confirmed,
                "reason": line.reduction_reason,
                "storage_rule": line.product.storage_rule,
            }
        )
    context = {**_common_context(session), "professional": professional, "pickups": list(pickups.values())}
    message = EmailMultiAlternatives(
        subject=f"Vos vaccins confirmés – session du {session.label_dates}",
        body=render_to_string("fulfilment/email/confirmation_professional.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[professional.email],
        headers={"Message-ID": _message_id(row)},
    )
    message.attach_alternative(
        render_to_string("fulfilment/email/confirmation_professional.html", context), "text/html"
    )
    return message


def build_message(row: OutboxMessage, *, at: datetime, data: BatchData | None = None) -> EmailMultiAlternatives:
    data = data or BatchData.load([row], at=at)
    if row.kind == OutboxMessage.Kind.PHARMACY:
        return _pharmacy_message(row, data)
    return _professional_message(row, data)


def is_permanent_failure(exc: BaseException) -> bool:
    """5xx answers are permanent (unknown mailbox, refused content); network trouble and 4xx are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return isinstance(exc, ValueError | UnicodeError)


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, smtplib.SMTPServerDisconnected | OSError) and not isinstance(
        exc, smtplib.SMTPResponseException
    )


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _mark_sent(row: OutboxMessage, token: uuid.UUID, email: str, message_id: str) -> None:
    OutboxMessage.objects.filter(pk=row.pk, claim_token=token, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), email=email, message_id=message_id, last_error="", claim_token=None
    )


def _mark_failed(row: OutboxMessage, token: uuid.UUID, error: str) -> None:
    OutboxMessage.objects.filter(pk=row.pk, claim_token=token, status=Status.SENDING).update(
        status=Status.FAILED, last_error=error[:2000], claim_token=None
    )


def _mark_retry(row: OutboxMessage, token: uuid.UUID, error: str, *, attempts: int) -> bool:
    """Back to pending with a backoff, or failed after the last attempt. True if it will be retried."""
    if attempts >= max_attempts():
        _mark_failed(row, token, f"Échec après {attempts} tentatives : {error}")
        return False
    OutboxMessage.objects.filter(pk=row.pk, claim_token=token, status=Status.SENDING).update(
        status=Status.PENDING,
        next_attempt_at=timezone.now() + retry_delay(attempts),
        last_error=error[:2000],
        claim_token=None,
    )
    return True


def _release(rows: list[OutboxMessage], token: uuid.UUID, error: str) -> int:
    """Give claimed rows back untouched (no SMTP connection, or the task's time is up)."""
    return OutboxMessage.objects.filter(pk__in=[r.pk for r in rows], claim_token=token, status=Status.SENDING).update(
        status=Status.PENDING,
        attempts=F("attempts") - 1,
        next_attempt_at=timezone.now() + retry_delay(1),
        last_error=error[:2000],
        claim_token=None,
    )


def outbox_send_batch(*, message_ids: list[int], connection=None) -> BatchResult:
    """Claim and send the queued rows among `message_ids` over one SMTP connection."""
    from celery.exceptions import SoftTimeLimitExceeded

    result = BatchResult()
    token = uuid.uuid4()
    now = timezone.now()
    result.claimed = OutboxMessage.objects.filter(pk__in=message_ids, status=Status.QUEUED).update(
        status=Status.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1
    )
    if not result.claimed:
        return result
    rows = list(
        OutboxMessage.objects.filter(claim_token=token, status=Status.SENDING)
        .select_related("session", "pharmacy__department", "professional")
        .order_by("pk")
    )
    # Nothing confirmed leaves before publication, whatever queued the row.
    unpublished = [row for row in rows if not confirmations_visible(session=row.session, at=now)]
    for row in unpublished:
        OutboxMessage.objects.filter(pk=row.pk, claim_token=token).update(
            status=Status.PENDING,
            attempts=F("attempts") - 1,
            next_attempt_at=publication_instant(session=row.session),
            claim_token=None,
        )
    rows = [row for row in rows if row not in unpublished]
    data = BatchData.load(rows, at=now)
    smtp = connection or get_connection(fail_silently=False)
    try:
        smtp.open()
    except Exception as exc:
        logger.warning("mailing: SMTP connection failed: %s", exc)
        result.retried = _release(rows, token, f"Connexion SMTP impossible : {type(exc).__name__}: {exc}")
        return result
    remaining = list(rows)
    try:
        while remaining:
            row = remaining.pop(0)
            try:
                message = build_message(row, at=now, data=data)
            except MessageNotSendable as exc:
                _mark_failed(row, token, str(exc))
                result.failed += 1
                continue
            try:
                smtp.send_messages([message])
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if is_permanent_failure(exc):
                    _mark_failed(row, token, error)
                    result.failed += 1
                elif _mark_retry(row, token, error, attempts=row.attempts):
                    result.retried += 1
                else:
                    result.failed += 1
                if _connection_lost(exc):
                    smtp.close()
                    try:
                        smtp.open()
                    except Exception as reopen_exc:
                        result.retried += _release(remaining, token, f"Connexion SMTP perdue : {reopen_exc}")
                        remaining = []
                continue
            _mark_sent(row, token, message.to[0], message.extra_headers["Message-ID"])
            result.sent += 1
    except SoftTimeLimitExceeded:
        result.retried += _release(remaining, token, "Temps imparti au lot dépassé : message remis en file.")
    finally:
        smtp.close()
    return result


def mailing_progress(*, session: OrderSession) -> dict[str, int]:
    """Count of the session's messages per status (the admin's progress line; no chord to track)."""
    from django.db.models import Count

    counts = dict(
        OutboxMessage.objects.filter(session=session).values_list("status").annotate(n=Count("id")).order_by()
    )
    return {status: counts.get(status, 0) for status in Status.values}
