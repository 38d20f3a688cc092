"""Writing support requests and the support desk's work on them; help documents.

Every change writes an audit event in its own transaction; e-mails leave through Celery after commit
and are claimed by a conditional UPDATE first, so that each one is sent once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from .models import HelpDocument, ServiceSettings, SupportMessage, SupportRequest
from .opening_hours import OPENING_HOURS_LABEL, support_due_at
from .selectors import support_context_for
from .support import SupportReason

if TYPE_CHECKING:
    from accounts.models import Pharmacy, User


class SupportError(Exception):
    """A support desk action that cannot be done, with the French message to show."""

    def __init__(self, code: str, **params: object) -> None:
        self.code = code
        super().__init__(SUPPORT_ERROR_MESSAGES[code].format(**params))


SUPPORT_ERROR_MESSAGES = {
    "transition": "La demande {reference} est « {current} » : elle ne peut pas passer à « {target} ».",
    "closed": "La demande {reference} est close : rouvrez-la avant d'y répondre.",
    "empty": "Le texte est vide.",
}

# Which status the desk may move a request to from each status. "Répondue" is never chosen by hand: it
# is what sending a reply does.
S = SupportRequest.Status
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.IN_PROGRESS, S.ESCALATED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.ESCALATED, S.CLOSED}),
    S.ESCALATED: frozenset({S.IN_PROGRESS, S.CLOSED}),
    S.ANSWERED: frozenset({S.IN_PROGRESS, S.ESCALATED, S.CLOSED}),
    S.CLOSED: frozenset({S.IN_PROGRESS}),
}

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def _new_reference() -> str:
    return "SUP-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class SupportRequestInput:
    reason: SupportReason | str
    message: str
    email: str
    callback_requested: bool = False
    phone: str = ""
    name: str = ""
    finess: str = ""
    error_message: str = ""


def support_request_create(
    *,
    actor: Actor,
    data: SupportRequestInput,
    user: User | None = None,
    pharmacy: Pharmacy | None = None,
) -> SupportRequest:
    """Register a request, attach the officine's context when it is logged in, start the two-hour clock
    and send the acknowledgement (after commit, once).

    For a logged-in officine the FINESS, the session open now and the officine's order in it are taken
    from the database, never from the form. A FINESS typed by an anonymous requester is kept as given
    and links to nothing: the request must not appear in that officine's "Mes demandes".
    """
    now = timezone.now()
    session = order = None
    finess = data.finess
    if pharmacy is not None:
        session, order = support_context_for(pharmacy=pharmacy, at=now)
        finess = pharmacy.finess
    for attempt in range(5):
        reference = _new_reference()
        try:
            with transaction.atomic():
                support_request = SupportRequest.objects.create(
                    reference=reference,
                    reason=data.reason,
                    message=data.message,
                    callback_requested=data.callback_requested,
                    phone=data.phone,
                    name=data.name,
                    email=data.email,
                    finess=finess,
                    error_message=data.error_message,
                    user=user,
                    pharmacy=pharmacy,
                    session=session,
                    order=order,
                    created_at=now,
                    due_at=support_due_at(sent_at=now),
                )
                audit_record(
                    actor=actor,
                    action="support.request_created",
                    target=support_request,
                    pharmacy=pharmacy,
                    summary=f"Demande de support {support_request.reference} : {support_request.get_reason_display()}",
                    after={
                        "reason": str(data.reason),
                        "callback_requested": data.callback_requested,
                        "session": session.pk if session else None,
                        "order": order.reference if order else None,
                        "error": data.error_message,
                    },
                )
                transaction.on_commit(lambda pk=support_request.pk: _enqueue_acknowledgement(pk))
            return support_request
        except IntegrityError:
            # A reference drawn twice among 32^8: draw again. Any other integrity error is a bug.
            if attempt == 4 or not SupportRequest.objects.filter(reference=reference).exists():
                raise
    raise AssertionError("unreachable")


def _enqueue_acknowledgement(pk: int) -> None:
    from .tasks import support_send_acknowledgement_task

    support_send_acknowledgement_task.delay(pk)


def _enqueue_reply(pk: int) -> None:
    from .tasks import support_send_reply_task

    support_send_reply_task.delay(pk)


# --- e-mails ---------------------------------------------------------------------------------------


def _send(*, to: str, subject: str, template: str, context: dict) -> None:
    context = {
        **context,
        "site_url": settings.SITE_URL,
        "service_name": settings.SERVICE_NAME,
        "opening_hours": OPENING_HOURS_LABEL,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"portal/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[settings.SUPPORT_EMAIL],
    )
    message.attach_alternative(render_to_string(f"portal/email/{template}.html", context), "text/html")
    message.send()


def support_acknowledgement_send(*, support_request_id: int) -> bool:
    """Send the acknowledgement of a request, once: the row is claimed by a conditional UPDATE before
    sending, so a task delivered twice (or run by two workers) sends one e-mail. If sending fails the
    claim is released and the error re-raised, for Celery to retry. Returns whether this call sent it."""
    claimed_at = timezone.now()
    claimed = SupportRequest.objects.filter(pk=support_request_id, acknowledged_at__isnull=True).update(
        acknowledged_at=claimed_at
    )
    if claimed != 1:
        return False
    support_request = SupportRequest.objects.select_related("pharmacy", "order", "session").get(pk=support_request_id)
    try:
        _send(
            to=support_request.email,
            subject=f"Votre demande au support – référence {support_request.reference}",
            template="support_acknowledgement",
            context={
                "support_request": support_request,
                "my_requests_url": settings.SITE_URL + reverse("support_my_requests")
                if support_request.pharmacy_id
                else "",
            },
        )
    except Exception:
        SupportRequest.objects.filter(pk=support_request_id, acknowledged_at=claimed_at).update(acknowledged_at=None)
        raise
    return True


def support_reply_send(*, message_id: int) -> bool:
    """E-mail one reply to the requester, once (same claim as the acknowledgement)."""
    claimed_at = timezone.now()
    claimed = SupportMessage.objects.filter(
        pk=message_id, kind=SupportMessage.Kind.REPLY, emailed_at__isnull=True
    ).update(emailed_at=claimed_at)
    if claimed != 1:
        return False
    reply = SupportMessage.objects.select_related("request").get(pk=message_id)
    support_request = reply.request
    try:
        _send(
            to=support_request.email,
            subject=f"Réponse du support – référence {support_request.reference}",
            template="support_reply",
            context={
                "support_request": support_request,
                "reply": reply,
                "detail_url": settings.SITE_URL + reverse("support_my_request_detail", args=[support_request.reference])
                if support_request.pharmacy_id
                else "",
            },
        )
    except Exception:
        SupportMessage.objects.filter(pk=message_id, emailed_at=claimed_at).update(emailed_at=None)
        raise
    return True


# --- the support desk ------------------------------------------------------------------------------


def _locked(support_request: SupportRequest) -> SupportRequest:
    # Two agents may act on the same request at once (reply, escalate, close): lock its row so that each
    # action sees the other's result and the status never goes backwards silently.
    return SupportRequest.objects.select_for_update().get(pk=support_request.pk)


def support_reply_add(*, support_request: SupportRequest, actor: Actor, body: str) -> SupportMessage:
    """Reply to the requester: e-mailed after commit, shown under "Mes demandes", stops the clock."""
    body = body.strip()
    if not body:
        raise SupportError("empty")
    with transaction.atomic():
        locked = _locked(support_request)
        if locked.status == SupportRequest.Status.CLOSED:
            raise SupportError("closed", reference=locked.reference)
        now = timezone.now()
        reply = SupportMessage.objects.create(
            request=locked,
            kind=SupportMessage.Kind.REPLY,
            body=body,
            author=actor.user,
            author_label=actor.label[:255],
            created_at=now,
        )
        before = locked.status
        locked.status = SupportRequest.Status.ANSWERED
        locked.first_answered_at = locked.first_answered_at or now
        locked.save(update_fields=["status", "first_answered_at", "updated_at"])
        audit_record(
            actor=actor,
            action="support.reply_sent",
            target=locked,
            pharmacy=locked.pharmacy,
            summary=f"Réponse envoyée sur la demande {locked.reference}",
            before={"status": before},
            after={"status": locked.status, "reply": reply.pk},
        )
        transaction.on_commit(lambda pk=reply.pk: _enqueue_reply(pk))
    _refresh(support_request, locked)
    return reply


def support_note_add(*, support_request: SupportRequest, actor: Actor, body: str) -> SupportMessage:
    """An internal note: for the support desk only, never e-mailed nor shown to the officine."""
    body = body.strip()
    if not body:
        raise SupportError("empty")
    with transaction.atomic():
        note = SupportMessage.objects.create(
            request=support_request,
            kind=SupportMessage.Kind.NOTE,
            body=body,
            author=actor.user,
            author_label=actor.label[:255],
        )
        audit_record(
            actor=actor,
            action="support.note_added",
            target=support_request,
            pharmacy=support_request.pharmacy,
            summary=f"Note interne ajoutée à la demande {support_request.reference}",
        )
    return note


def support_request_set_status(*, support_request: SupportRequest, actor: Actor, status: str) -> SupportRequest:
    """Move a request along the queue (take it, escalate it to level 2, close it, reopen it)."""
    with transaction.atomic():
        locked = _locked(support_request)
        if status not in ALLOWED_TRANSITIONS[locked.status]:
            raise SupportError(
                "transition",
                reference=locked.reference,
                current=locked.get_status_display(),
                target=SupportRequest.Status(status).label,
            )
        before = locked.status
        locked.status = status
        locked.closed_at = timezone.now() if status == SupportRequest.Status.CLOSED else None
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        audit_record(
            actor=actor,
            action="support.status_changed",
            target=locked,
            pharmacy=locked.pharmacy,
            summary=(
                f"Demande {locked.reference} : {SupportRequest.Status(before).label} → {locked.get_status_display()}"
            ),
            before={"status": before},
            after={"status": status},
        )
    _refresh(support_request, locked)
    return support_request


def support_request_assign(*, support_request: SupportRequest, actor: Actor, agent: User | None) -> SupportRequest:
    """Give the request to an agent (or to nobody). Taking a new request puts it "en cours"."""
    with transaction.atomic():
        locked = _locked(support_request)
        before = {"assigned_to": locked.assigned_to_id, "status": locked.status}
        locked.assigned_to = agent
        if agent is not None and locked.status == SupportRequest.Status.NEW:
            locked.status = SupportRequest.Status.IN_PROGRESS
        locked.save(update_fields=["assigned_to", "status", "updated_at"])
        audit_record(
            actor=actor,
            action="support.assigned",
            target=locked,
            pharmacy=locked.pharmacy,
            summary=f"Demande {locked.reference} attribuée à {agent or 'personne'}",
            before=before,
            after={"assigned_to": locked.assigned_to_id, "status": locked.status},
        )
    _refresh(support_request, locked)
    return support_request


def _refresh(target: SupportRequest, source: SupportRequest) -> None:
    for field in ("status", "assigned_to_id", "first_answered_at", "closed_at", "updated_at"):
        setattr(target, field, getattr(source, field))
    if "assigned_to" in target._state.fields_cache:
        del target._state.fields_cache["assigned_to"]


# --- reads of an officine's data by support ----------------------------------------------------------


def support_pharmacy_file_read_log(*, actor: Actor, pharmacy: Pharmacy) -> None:
    """Record that a support agent read an officine's orders and effectors (who, when, which officine)."""
    audit_record(
        actor=actor,
        action="support.pharmacy_file_viewed",
        target=pharmacy,
        pharmacy=pharmacy,
        summary=f"Consultation en lecture seule des commandes et effecteurs de {pharmacy} par le support",
    )


# --- service switches --------------------------------------------------------------------------------


def service_settings_save(*, settings_row: ServiceSettings, actor: Actor, changed: list[str]) -> ServiceSettings:
    """Save the switches (maintenance, PSC unavailable, pilot restriction) and journal who flipped what."""
    with transaction.atomic():
        before = ServiceSettings.objects.filter(pk=settings_row.pk).values(*SWITCH_FIELDS).first()
        settings_row.save()
        audit_record(
            actor=actor,
            action="service_settings.changed",
            target=settings_row,
            summary="Paramètres du service modifiés : " + (", ".join(changed) or "aucun champ"),
            before=before,
            after={field: getattr(settings_row, field) for field in SWITCH_FIELDS},
        )
    return settings_row


SWITCH_FIELDS = (
    "psc_unavailable",
    "psc_unavailable_message",
    "read_only",
    "read_only_message",
    "pilot_group_id",
)


# --- help documents ----------------------------------------------------------------------------------


def help_document_save(*, document: HelpDocument, actor: Actor) -> HelpDocument:
    """Store a guide (already validated: PDF, size) and remember its size for the download link."""
    with transaction.atomic():
        if document.file:
            document.size = document.file.size
        created = document.pk is None
        document.save()
        audit_record(
            actor=actor,
            action="help_document.created" if created else "help_document.changed",
            target=document,
            summary=f"Guide « {document.title} » {'ajouté' if created else 'modifié'}",
        )
    return document
