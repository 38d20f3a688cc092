"""Attachments and transfers: every write on who orders for whom goes through here (views, admin, the CSV
import of the previous portal, tasks), so that the locks, the named errors and the audit apply alike.

Locking rule: every operation on one effector first locks its referential row (the Professional or the
Establishment, which exists even before the Effector does), then reads and writes attachments and transfer
requests. One lock, always taken first, so two operations on the same effector queue instead of racing,
and never deadlock. The partial unique index "attachment_one_active_per_effector" is the backstop.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.identifiers import FINESS_RE, RPPS_RE, normalize_identifier

from .errors import EffectorError
from .models import Attachment, Effector, EffectorType, Establishment, Professional, TransferRequest

if TYPE_CHECKING:
    from accounts.models import Pharmacy

logger = logging.getLogger(__name__)

ReferentialEntry = Professional | Establishment

NURSE_PROFESSION = "60"
PHARMACIST_PROFESSION = "21"
OWN_LINE_TYPES = ("pharmacist", "nurse")


def _pause_after_check() -> None:
    """Nothing in production. The concurrency tests replace it with a sleep to widen the window between the
    availability check and the write (pretix's "sleep-after-quota-check")."""


# --- Reading the referential -----------------------------------------------------------------------


def entry_identifier(entry: ReferentialEntry) -> str:
    return f"RPPS {entry.rpps}" if isinstance(entry, Professional) else f"FINESS {entry.finess}"


def entry_name(entry: ReferentialEntry) -> str:
    if isinstance(entry, Professional):
        return f"{entry.first_name} {entry.last_name}".strip()
    return entry.name


def pharmacy_town(pharmacy: Pharmacy) -> str:
    """How another officine is named to a user: by its town only (its name and FINESS stay private)."""
    return pharmacy.city or pharmacy.department.name


def _lookup_model(identifier: str) -> tuple[type[Professional] | type[Establishment], dict[str, str]]:
    if RPPS_RE.match(identifier):
        return Professional, {"rpps": identifier}
    if FINESS_RE.match(identifier):
        return Establishment, {"finess": identifier}
    raise EffectorError(
        EffectorError.NOT_FOUND,
        f"« {identifier} » n'est ni un numéro RPPS (11 chiffres) ni un numéro FINESS (9 caractères).",
        identifier=identifier,
    )


def not_found_error(identifier: str) -> EffectorError:
    return EffectorError(
        EffectorError.NOT_FOUND,
        f"Aucun professionnel de santé ni établissement ne porte le numéro {identifier} dans le référentiel "
        "national (RPPS pour les professionnels, FINESS pour les établissements).",
        identifier=identifier,
    )


def _lock_entry(identifier: str) -> ReferentialEntry:
    """Lock the referential row of `identifier` for the rest of the transaction (see the module docstring)."""
    model, lookup = _lookup_model(identifier)
    entry = model.objects.select_for_update().filter(**lookup).first()
    if entry is None:
        raise not_found_error(identifier)
    return entry


def _lock_entry_of(effector: Effector) -> ReferentialEntry | None:
    if effector.professional_id:
        return Professional.objects.select_for_update().get(pk=effector.professional_id)
    if effector.establishment_id:
        return Establishment.objects.select_for_update().get(pk=effector.establishment_id)
    return None


def effector_type_for(entry: ReferentialEntry, *, types: list[EffectorType] | None = None) -> EffectorType:
    """The effector type an entry of the referential orders as, or EffectorError(NOT_ATTACHABLE)."""
    types = types if types is not None else list(EffectorType.objects.all())
    if isinstance(entry, Professional):
        if entry.profession_code == NURSE_PROFESSION:
            raise EffectorError(
                EffectorError.NOT_ATTACHABLE,
                "Les infirmiers ne sont pas rattachés nominativement : ils sont commandés en un total unique sur "
                "la ligne « Infirmiers (IDE) » de votre officine.",
            )
        if entry.profession_code == PHARMACIST_PROFESSION:
            raise EffectorError(
                EffectorError.NOT_ATTACHABLE,
                "Les pharmaciens commandent pour leur officine, sur sa ligne « Pharmacien (officine) » : ils ne "
                "sont pas rattachés comme effecteurs.",
            )
        candidates = [
            t
            for t in types
            if t.kind == EffectorType.Kind.PROFESSIONAL and t.rpps_profession_code == entry.profession_code
        ]
        # A savoir-faire that makes a type of its own (médecine du travail) wins over the plain profession.
        for effector_type in candidates:
            if effector_type.rpps_specialty_codes and entry.specialty_code in effector_type.rpps_specialty_codes:
                return effector_type
        for effector_type in candidates:
            if not effector_type.rpps_specialty_codes:
                return effector_type
        raise EffectorError(
            EffectorError.NOT_ATTACHABLE,
            f"La profession « {entry.profession_label or entry.profession_code} » ne commande pas via une "
            "officine dans ce service.",
        )
    for effector_type in types:
        if effector_type.kind == EffectorType.Kind.ESTABLISHMENT and entry.category_code in (
            effector_type.finess_categories or []
        ):
            return effector_type
    raise EffectorError(
        EffectorError.NOT_ATTACHABLE,
        f"La catégorie « {entry.category_label or entry.category_code} » ne fait pas partie des établissements qui "
        "commandent via une officine (MSP, CDS, LBM, FAM, MAS, EHPAD, USLD, résidences autonomie, SST, SSU, PMI).",
    )


def _check_active(entry: ReferentialEntry) -> None:
    if not entry.is_active:
        raise EffectorError(
            EffectorError.INACTIVE,
            f"{entry_name(entry)} ({entry_identifier(entry)}) ne figure plus dans la dernière extraction du "
            "référentiel national : un effecteur inactif ne peut pas être rattaché.",
            identifier=entry_identifier(entry),
        )


def _effector_of(entry: ReferentialEntry) -> Effector | None:
    lookup = {"professional": entry} if isinstance(entry, Professional) else {"establishment": entry}
    return Effector.objects.select_related("type").filter(**lookup).first()


def _active_attachment(effector: Effector) -> Attachment | None:
    return (
        Attachment.objects.select_related("pharmacy__department")
        .filter(effector=effector, detached_at__isnull=True)
        .first()
    )


def _attached_error(entry: ReferentialEntry, attachment: Attachment, pharmacy: Pharmacy) -> EffectorError:
    if attachment.pharmacy_id == pharmacy.pk:
        return EffectorError(
            EffectorError.ALREADY_ATTACHED_HERE,
            f"{entry_name(entry)} est déjà rattaché(e) à votre officine.",
            attachment_id=attachment.pk,
        )
    town = pharmacy_town(attachment.pharmacy)
    return EffectorError(
        EffectorError.ALREADY_ATTACHED_ELSEWHERE,
        f"{entry_name(entry)} ({entry_identifier(entry)}) est déjà rattaché(e) à une autre officine, à {town}.",
        town=town,
        identifier=entry_identifier(entry),
    )


def _attachment_snapshot(attachment: Attachment) -> dict[str, object]:
    return {
        "effecteur": str(attachment.effector),
        "officine": attachment.pharmacy.finess,
        "rattache_le": attachment.attached_at,
        "detache_le": attachment.detached_at,
        "origine": attachment.source,
    }


# --- Attach and detach -----------------------------------------------------------------------------


def attachment_attach(
    *,
    pharmacy: Pharmacy,
    identifier: str,
    actor: Actor,
    source: str = Attachment.Source.PHARMACY,
    attached_at: datetime | None = None,
) -> Attachment:
    """Attach the professional (RPPS) or establishment (FINESS) `identifier` to `pharmacy`.

    Raises EffectorError: NOT_FOUND, INACTIVE, NOT_ATTACHABLE, ALREADY_ATTACHED_HERE,
    ALREADY_ATTACHED_ELSEWHERE. Writes the attachment and its audit event in one transaction.
    """
    identifier = normalize_identifier(identifier)
    with transaction.atomic():
        entry = _lock_entry(identifier)
        _check_active(entry)
        effector_type = effector_type_for(entry)
        effector = _effector_of(entry)
        if effector is None:
            lookup = {"professional": entry} if isinstance(entry, Professional) else {"establishment": entry}
            effector = Effector.objects.create(type=effector_type, **lookup)
        current = _active_attachment(effector)
        _pause_after_check()
        if current is not None:
            raise _attached_error(entry, current, pharmacy)
        try:
            # The savepoint keeps the transaction usable if the unique index refuses the row: that only
            # happens when a competing attach bypassed the lock above (it cannot in this module).
            with transaction.atomic():
                attachment = Attachment.objects.create(
                    effector=effector,
                    pharmacy=pharmacy,
                    attached_at=attached_at or timezone.now(),
                    attached_by=actor.user,
                    source=source,
                )
        except IntegrityError:
            current = _active_attachment(effector)
            if current is None:
                raise
            raise _attached_error(entry, current, pharmacy) from None
        audit_record(
            actor=actor,
            action="effector.attached",
            target=attachment,
            pharmacy=pharmacy,
            summary=f"Rattachement de {entry_name(entry)} ({entry_identifier(entry)}) – {effector_type.label}",
            after=_attachment_snapshot(attachment),
        )
    return attachment


def attachment_detach(*, pharmacy: Pharmacy, attachment: Attachment, actor: Actor) -> Attachment:
    """Close an active attachment of `pharmacy` (history is kept). Its pending transfer requests lapse.

    Raises EffectorError: NOT_ATTACHED (not this officine's, or already detached), OWN_LINE.
    """
    effector = attachment.effector
    if attachment.pharmacy_id != pharmacy.pk:
        raise EffectorError(EffectorError.NOT_ATTACHED, "Ce rattachement n'appartient pas à votre officine.")
    if effector.pharmacy_id is not None:
        raise EffectorError(
            EffectorError.OWN_LINE,
            f"La ligne « {effector.display_name} » est propre à votre officine : elle ne peut pas être retirée.",
        )
    with transaction.atomic():
        entry = _lock_entry_of(effector)
        now = timezone.now()
        # Conditional update: a second click, or another tab, finds nothing left to close.
        closed = Attachment.objects.filter(pk=attachment.pk, pharmacy=pharmacy, detached_at__isnull=True).update(
            detached_at=now, detached_by=actor.user
        )
        if closed != 1:
            raise EffectorError(EffectorError.NOT_ATTACHED, "Cet effecteur n'est plus rattaché à votre officine.")
        attachment.refresh_from_db()
        lapsed = TransferRequest.objects.filter(
            effector=effector, from_pharmacy=pharmacy, status=TransferRequest.Status.PENDING
        ).update(
            status=TransferRequest.Status.CANCELLED,
            decided_at=now,
            decided_by=actor.user,
            decision_note="L'officine actuelle a retiré l'effecteur : il peut être rattaché directement.",
        )
        audit_record(
            actor=actor,
            action="effector.detached",
            target=attachment,
            pharmacy=pharmacy,
            summary=f"Retrait de {entry_name(entry)} ({entry_identifier(entry)})"
            + (f" ; {lapsed} demande(s) de transfert annulée(s)" if lapsed else ""),
            after=_attachment_snapshot(attachment),
        )
    return attachment


def effector_contact_update(*, pharmacy: Pharmacy, attachment: Attachment, email: str, actor: Actor) -> Professional:
    """Set the contact e-mail of an attached doctor, midwife or dental surgeon (the Friday mailing's address).

    Raises ValidationError on a malformed address, EffectorError(NO_MAILING / NOT_ATTACHED) otherwise.
    """
    if attachment.pharmacy_id != pharmacy.pk or attachment.detached_at is not None:
        raise EffectorError(EffectorError.NOT_ATTACHED, "Cet effecteur n'est plus rattaché à votre officine.")
    effector = attachment.effector
    if effector.professional_id is None or not effector.type.receives_mailing:
        raise EffectorError(
            EffectorError.NO_MAILING,
            "Seuls les médecins, sages-femmes et chirurgiens-dentistes reçoivent leurs volumes par e-mail.",
        )
    email = (email or "").strip()
    if email:
        local, _, domain = email.rpartition("@")
        email = f"{local}@{domain.lower()}" if local else email
        validate_email(email)
    with transaction.atomic():
        professional = Professional.objects.select_for_update().get(pk=effector.professional_id)
        before = professional.email
        if before == email:
            return professional
        professional.email = email
        professional.save(update_fields=["email", "updated_at"])
        audit_record(
            actor=actor,
            action="effector.contact_changed",
            target=professional,
            pharmacy=pharmacy,
            summary=f"E-mail de contact de {entry_name(professional)} : {email or 'supprimé'}",
            before={"email": before},
            after={"email": email},
        )
    return professional


def attachment_review_clear(*, attachment: Attachment, actor: Actor) -> bool:
    """Support has looked at an attachment flagged by an import. Returns False if it was not flagged."""
    with transaction.atomic():
        cleared = Attachment.objects.filter(pk=attachment.pk, needs_review=True).update(
            needs_review=False, review_reason=""
        )
        if cleared:
            audit_record(
                actor=actor,
                action="effector.review_cleared",
                target=attachment,
                pharmacy=attachment.pharmacy,
                summary=f"Rattachement revu : {attachment.effector} ({attachment.review_reason})",
            )
    return bool(cleared)


def pharmacy_own_effectors_ensure(*, pharmacy: Pharmacy, actor: Actor | None = None) -> list[Effector]:
    """The officine's own line and its nurses' total line exist and are attached to it. Idempotent."""
    effectors = []
    created_any = False
    for code in OWN_LINE_TYPES:
        effector_type = EffectorType.objects.get(code=code)
        effector, created = Effector.objects.get_or_create(pharmacy=pharmacy, type=effector_type)
        created_any |= created
        if not Attachment.objects.filter(effector=effector, detached_at__isnull=True).exists():
            try:
                with transaction.atomic():
                    Attachment.objects.create(effector=effector, pharmacy=pharmacy, source=Attachment.Source.SYSTEM)
                created_any = True
            except IntegrityError:
                pass  # a concurrent request attached it first: the state we want
        effectors.append(effector)
    if created_any:
        audit_record(
            actor=actor or Actor.system(),
            action="effector.own_lines_created",
            target=pharmacy,
            pharmacy=pharmacy,
            summary="Création des lignes propres de l'officine (pharmacien, infirmiers)",
        )
    return effectors


# --- Transfers between officines -------------------------------------------------------------------


def transfer_request_create(*, pharmacy: Pharmacy, identifier: str, actor: Actor) -> TransferRequest:
    """Ask the officine that holds `identifier` to hand it over to `pharmacy`.

    Raises EffectorError: NOT_FOUND, INACTIVE, NOT_ATTACHABLE, NOT_ATTACHED (free: attach it directly),
    ALREADY_ATTACHED_HERE, TRANSFER_PENDING.
    """
    identifier = normalize_identifier(identifier)
    with transaction.atomic():
        entry = _lock_entry(identifier)
        _check_active(entry)
        effector_type_for(entry)
        effector = _effector_of(entry)
        current = _active_attachment(effector) if effector else None
        if current is None:
            raise EffectorError(
                EffectorError.NOT_ATTACHED,
                f"{entry_name(entry)} n'est rattaché(e) à aucune officine : vous pouvez le (la) rattacher directement.",
            )
        if current.pharmacy_id == pharmacy.pk:
            raise _attached_error(entry, current, pharmacy)
        try:
            with transaction.atomic():
                transfer = TransferRequest.objects.create(
                    effector=effector, from_pharmacy=current.pharmacy, to_pharmacy=pharmacy, created_by=actor.user
                )
        except IntegrityError:
            raise EffectorError(
                EffectorError.TRANSFER_PENDING,
                f"Une demande de transfert de {entry_name(entry)} est déjà en attente de réponse.",
            ) from None
        name = f"{entry_name(entry)} ({entry_identifier(entry)})"
        audit_record(
            actor=actor,
            action="effector.transfer_requested",
            target=transfer,
            pharmacy=pharmacy,
            summary=f"Demande de transfert de {name} envoyée à l'officine de {pharmacy_town(current.pharmacy)}",
        )
        audit_record(
            actor=actor,
            action="effector.transfer_received",
            target=transfer,
            pharmacy=current.pharmacy,
            summary=f"Demande de transfert de {name} reçue d'une officine de {pharmacy_town(pharmacy)}",
        )
    return transfer


def _decide(*, transfer: TransferRequest, accept: bool, actor: Actor, by_support: bool) -> TransferRequest:
    """Shared by the holder's answer and support's decision. Caller has checked who may decide."""
    with transaction.atomic():
        entry = _lock_entry_of(transfer.effector)
        transfer = TransferRequest.objects.select_for_update().get(pk=transfer.pk)
        if transfer.status != TransferRequest.Status.PENDING:
            raise EffectorError(
                EffectorError.TRANSFER_NOT_PENDING,
                f"Cette demande de transfert a déjà été traitée ({transfer.get_status_display().lower()}).",
            )
        now = timezone.now()
        name = f"{entry_name(entry)} ({entry_identifier(entry)})"
        who = "le support de Santé publique France" if by_support else "l'officine actuelle"
        if accept:
            current = _active_attachment(transfer.effector)
            if current is not None and current.pharmacy_id != transfer.from_pharmacy_id:
                raise EffectorError(
                    EffectorError.TRANSFER_STALE,
                    "L'effecteur n'est plus rattaché à l'officine à qui la demande a été adressée.",
                )
            if current is not None:
                Attachment.objects.filter(pk=current.pk, detached_at__isnull=True).update(
                    detached_at=now, detached_by=actor.user
                )
            attachment = Attachment.objects.create(
                effector=transfer.effector,
                pharmacy=transfer.to_pharmacy,
                attached_at=now,
                attached_by=actor.user,
                source=Attachment.Source.SUPPORT if by_support else Attachment.Source.TRANSFER,
            )
            transfer.status = TransferRequest.Status.ACCEPTED
            summary = f"Transfert de {name} accepté par {who}"
            audit_record(
                actor=actor,
                action="effector.attached",
                target=attachment,
                pharmacy=transfer.to_pharmacy,
                summary=f"Rattachement de {name} par transfert",
                after=_attachment_snapshot(attachment),
            )
        else:
            transfer.status = TransferRequest.Status.REFUSED
            summary = f"Transfert de {name} refusé par {who}"
        transfer.decided_at = now
        transfer.decided_by = actor.user
        transfer.decided_by_support = by_support
        transfer.save(update_fields=["status", "decided_at", "decided_by", "decided_by_support"])
        action = "effector.transfer_accepted" if accept else "effector.transfer_refused"
        for pharmacy in (transfer.from_pharmacy, transfer.to_pharmacy):
            audit_record(actor=actor, action=action, target=transfer, pharmacy=pharmacy, summary=summary)
    return transfer


def transfer_request_answer(
    *, pharmacy: Pharmacy, transfer: TransferRequest, accept: bool, actor: Actor
) -> TransferRequest:
    """The current officine accepts (the effector moves) or refuses a transfer request addressed to it."""
    if transfer.from_pharmacy_id != pharmacy.pk:
        raise EffectorError(EffectorError.TRANSFER_NOT_PENDING, "Cette demande ne vous est pas adressée.")
    return _decide(transfer=transfer, accept=accept, actor=actor, by_support=False)


def transfer_request_decide_by_support(
    *, transfer: TransferRequest, accept: bool, actor: Actor, at: datetime | None = None
) -> TransferRequest:
    """SpF support decides a request the current officine left unanswered for TransferRequest.ANSWER_DELAY."""
    if transfer.status == TransferRequest.Status.PENDING and not transfer.is_overdue(at=at):
        raise EffectorError(
            EffectorError.TRANSFER_NOT_OVERDUE,
            "L'officine actuelle a jusqu'au "
            f"{timezone.localtime(transfer.support_may_decide_at):%d/%m/%Y à %H:%M} pour répondre.",
        )
    return _decide(transfer=transfer, accept=accept, actor=actor, by_support=True)


def transfer_request_cancel(*, pharmacy: Pharmacy, transfer: TransferRequest, actor: Actor) -> TransferRequest:
    """The requesting officine withdraws its request."""
    if transfer.to_pharmacy_id != pharmacy.pk:
        raise EffectorError(EffectorError.TRANSFER_NOT_PENDING, "Cette demande n'est pas la vôtre.")
    with transaction.atomic():
        now = timezone.now()
        cancelled = TransferRequest.objects.filter(
            pk=transfer.pk, to_pharmacy=pharmacy, status=TransferRequest.Status.PENDING
        ).update(
            status=TransferRequest.Status.CANCELLED,
            decided_at=now,
            decided_by=actor.user,
            decision_note="Annulée par l'officine demandeuse.",
        )
        if cancelled != 1:
            raise EffectorError(EffectorError.TRANSFER_NOT_PENDING, "Cette demande de transfert a déjà été traitée.")
        transfer.refresh_from_db()
        for target_pharmacy in (transfer.to_pharmacy, transfer.from_pharmacy):
            audit_record(
                actor=actor,
                action="effector.transfer_cancelled",
                target=transfer,
                pharmacy=target_pharmacy,
                summary=f"Demande de transfert de {transfer.effector} annulée par l'officine demandeuse",
            )
    return transfer


def validate_identifier_key(identifier: str) -> None:
    """Field-level check of a number typed by a user: format and check key (ValidationError in French)."""
    from vaccine_orders.identifiers import validate_finess, validate_rpps

    if identifier.isdigit() and len(identifier) == 11:
        validate_rpps(identifier)
    elif len(identifier) == 9 and FINESS_RE.match(identifier):
        validate_finess(identifier)
    else:
        raise ValidationError("Saisissez un numéro RPPS (11 chiffres) ou FINESS (9 caractères).")
