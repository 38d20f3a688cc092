"""Reads of the effectors app: "Mes effecteurs", the referential search, transfers, history."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.identifiers import FINESS_RE, RPPS_RE, normalize_identifier

from .errors import EffectorError
from .models import Attachment, Effector, EffectorType, Establishment, Professional, TransferRequest
from .services import effector_type_for, entry_identifier, entry_name, pharmacy_town

if TYPE_CHECKING:
    from accounts.models import Pharmacy

SEARCH_LIMIT = 50
# The professions a pharmacy attaches by name (doctors, dental surgeons, midwives); nurses and pharmacists
# appear in a search by number only, with the reason they cannot be attached.
NOMINATIVE_PROFESSIONS = ("10", "40", "50")
HISTORY_ACTIONS = (
    "effector.attached",
    "effector.detached",
    "effector.contact_changed",
    "effector.transfer_requested",
    "effector.transfer_received",
    "effector.transfer_accepted",
    "effector.transfer_refused",
    "effector.transfer_cancelled",
    "effector.review_cleared",
    "effector.own_lines_created",
    "referential.updated",
    "referential.deactivated",
    "referential.reactivated",
    "referential.created",
)
ACTION_LABELS = {
    "effector.attached": "Rattachement",
    "effector.detached": "Retrait",
    "effector.contact_changed": "E-mail de contact",
    "effector.transfer_requested": "Demande de transfert envoyée",
    "effector.transfer_received": "Demande de transfert reçue",
    "effector.transfer_accepted": "Transfert accepté",
    "effector.transfer_refused": "Transfert refusé",
    "effector.transfer_cancelled": "Demande de transfert annulée",
    "effector.review_cleared": "Rattachement revu par le support",
    "effector.own_lines_created": "Lignes de l'officine créées",
    "referential.updated": "Mise à jour du référentiel",
    "referential.deactivated": "Sorti du référentiel",
    "referential.reactivated": "Retour dans le référentiel",
    "referential.created": "Officine créée depuis le FINESS",
}


def attachment_list_active(*, pharmacy: Pharmacy) -> QuerySet[Attachment]:
    """The officine's current attachments: its own lines first, then by type and name."""
    return (
        Attachment.objects.filter(pharmacy=pharmacy, detached_at__isnull=True)
        .select_related("effector__type", "effector__professional", "effector__establishment", "effector__pharmacy")
        .annotate(
            own=Case(
                When(effector__pharmacy__isnull=False, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by(
            "own",
            "effector__type__sort_order",
            "effector__professional__last_name",
            "effector__professional__first_name",
            "effector__establishment__name",
        )
    )


def attachment_for_pharmacy(*, pharmacy: Pharmacy, attachment_id: int, active: bool = True) -> Attachment | None:
    """One attachment of this officine, or None: another officine's id is "not found" (the views 404)."""
    queryset = Attachment.objects.select_related(
        "effector__type", "effector__professional", "effector__establishment", "pharmacy"
    ).filter(pk=attachment_id, pharmacy=pharmacy)
    if active:
        queryset = queryset.filter(detached_at__isnull=True)
    return queryset.first()


def transfer_requests_received(*, pharmacy: Pharmacy) -> QuerySet[TransferRequest]:
    return (
        TransferRequest.objects.filter(from_pharmacy=pharmacy, status=TransferRequest.Status.PENDING)
        .select_related(
            "effector__professional", "effector__establishment", "effector__type", "to_pharmacy__department"
        )
        .order_by("created_at")
    )


def transfer_requests_sent(*, pharmacy: Pharmacy) -> QuerySet[TransferRequest]:
    return (
        TransferRequest.objects.filter(to_pharmacy=pharmacy, status=TransferRequest.Status.PENDING)
        .select_related(
            "effector__professional", "effector__establishment", "effector__type", "from_pharmacy__department"
        )
        .order_by("created_at")
    )


def transfer_request_for_pharmacy(*, pharmacy: Pharmacy, transfer_id: int, received: bool) -> TransferRequest | None:
    lookup = {"from_pharmacy": pharmacy} if received else {"to_pharmacy": pharmacy}
    return (
        TransferRequest.objects.select_related("effector__professional", "effector__establishment", "effector__type")
        .filter(pk=transfer_id, **lookup)
        .first()
    )


def pharmacy_effector_history(*, pharmacy: Pharmacy) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(pharmacy=pharmacy, action__in=HISTORY_ACTIONS).order_by("-created_at", "-id")


# --- Searching the referential ---------------------------------------------------------------------


@dataclass
class SearchResult:
    entry: Professional | Establishment
    state: str  # "attachable", "here", "elsewhere", "inactive", "not_attachable", "transfer_sent"
    type_label: str = ""
    town: str = ""
    message: str = ""
    attachment_id: int | None = None

    @property
    def name(self) -> str:
        return entry_name(self.entry)

    @property
    def identifier(self) -> str:
        return entry_identifier(self.entry)

    @property
    def raw_identifier(self) -> str:
        return self.entry.rpps if isinstance(self.entry, Professional) else self.entry.finess

    @property
    def place(self) -> str:
        entry = self.entry
        return " ".join(p for p in (entry.postal_code, entry.city) if p)


@dataclass
class SearchOutcome:
    results: list[SearchResult] = field(default_factory=list)
    not_found: str = ""  # an exact number that matches nothing
    truncated: bool = False


def _unaccent_upper(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


def referential_search(*, pharmacy: Pharmacy, query: str, department_id: int | None = None) -> SearchOutcome:
    """Search by RPPS, FINESS or name (with an optional department). Each result says what the pharmacy can
    do with it. The caller has validated the query (length, check keys)."""
    identifier = normalize_identifier(query)
    professionals: QuerySet[Professional] = Professional.objects.none()
    establishments: QuerySet[Establishment] = Establishment.objects.none()
    exact = bool(RPPS_RE.match(identifier) or FINESS_RE.match(identifier))
    if RPPS_RE.match(identifier):
        professionals = Professional.objects.filter(rpps=identifier)
    elif FINESS_RE.match(identifier):
        establishments = Establishment.objects.filter(finess=identifier)
    else:
        words = query.split()
        # A prefix of the name without accents (an indexed column computed by the database); with two words
        # or more, also "last name first name".
        name_q = Q(last_name_plain__startswith=_unaccent_upper(" ".join(words)))
        if len(words) >= 2:
            name_q |= Q(last_name_plain__startswith=_unaccent_upper(words[0])) & Q(
                first_name__istartswith=" ".join(words[1:])
            )
        professionals = Professional.objects.filter(name_q, profession_code__in=NOMINATIVE_PROFESSIONS)
        establishments = Establishment.objects.filter(name__icontains=" ".join(words))
    if department_id:
        professionals = professionals.filter(department_id=department_id)
        establishments = establishments.filter(department_id=department_id)
    found: list[Professional | Establishment] = list(
        professionals.order_by("last_name", "first_name", "rpps")[: SEARCH_LIMIT + 1]
    )
    found += list(establishments.order_by("name", "finess")[: SEARCH_LIMIT + 1 - len(found)])
    outcome = SearchOutcome(truncated=len(found) > SEARCH_LIMIT)
    found = found[:SEARCH_LIMIT]
    if exact and not found:
        outcome.not_found = identifier
        return outcome
    outcome.results = _with_states(pharmacy=pharmacy, entries=found)
    return outcome


def _with_states(*, pharmacy: Pharmacy, entries: list[Professional | Establishment]) -> list[SearchResult]:
    """Three queries whatever the number of results: effectors, their active attachments, pending transfers."""
    types = list(EffectorType.objects.all())
    professional_ids = [e.pk for e in entries if isinstance(e, Professional)]
    establishment_ids = [e.pk for e in entries if isinstance(e, Establishment)]
    effectors = Effector.objects.filter(
        Q(professional_id__in=professional_ids) | Q(establishment_id__in=establishment_ids)
    ).only("id", "professional_id", "establishment_id")
    effector_of: dict[tuple[str, int], int] = {}
    for effector in effectors:
        key = ("p", effector.professional_id) if effector.professional_id else ("e", effector.establishment_id)
        effector_of[key] = effector.pk
    attachments = {
        a.effector_id: a
        for a in Attachment.objects.filter(
            effector_id__in=effector_of.values(), detached_at__isnull=True
        ).select_related("pharmacy__department")
    }
    sent = set(
        TransferRequest.objects.filter(
            effector_id__in=effector_of.values(), to_pharmacy=pharmacy, status=TransferRequest.Status.PENDING
        ).values_list("effector_id", flat=True)
    )
    results = []
    for entry in entries:
        key = ("p", entry.pk) if isinstance(entry, Professional) else ("e", entry.pk)
        try:
            type_label = effector_type_for(entry, types=types).label
        except EffectorError as error:
            results.append(SearchResult(entry=entry, state="not_attachable", message=error.message))
            continue
        if not entry.is_active:
            results.append(SearchResult(entry=entry, state="inactive", type_label=type_label))
            continue
        effector_id = effector_of.get(key)
        attachment = attachments.get(effector_id) if effector_id else None
        if attachment is None:
            results.append(SearchResult(entry=entry, state="attachable", type_label=type_label))
        elif attachment.pharmacy_id == pharmacy.pk:
            results.append(SearchResult(entry=entry, state="here", type_label=type_label, attachment_id=attachment.pk))
        elif effector_id in sent:
            results.append(
                SearchResult(
                    entry=entry, state="transfer_sent", type_label=type_label, town=pharmacy_town(attachment.pharmacy)
                )
            )
        else:
            results.append(
                SearchResult(
                    entry=entry, state="elsewhere", type_label=type_label, town=pharmacy_town(attachment.pharmacy)
                )
            )
    return results


def looks_like_identifier(query: str) -> bool:
    return bool(re.fullmatch(r"[0-9AB]{9,11}", normalize_identifier(query))) and any(c.isdigit() for c in query)
