"""Pilot groups: filling one from a list of FINESS numbers, and restricting the whole service to one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import Pharmacy
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record
from vaccine_orders.identifiers import is_valid_finess, normalize_identifier

from ..models import PilotGroup

MAX_TOKENS = 50_000


@dataclass
class PilotImportReport:
    added: list[Pharmacy] = field(default_factory=list)
    already: list[Pharmacy] = field(default_factory=list)
    removed: list[Pharmacy] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # valid FINESS, no officine with it
    invalid: list[str] = field(default_factory=list)  # not a FINESS (format or check key)
    duplicates: int = 0

    @property
    def problems(self) -> int:
        return len(self.unknown) + len(self.invalid)


def parse_finess_list(raw: str) -> tuple[list[str], list[str], int]:
    """Valid FINESS numbers (in order, deduplicated), invalid tokens, and the number of duplicates.

    Accepts one number per line or numbers separated by commas, semicolons, tabs or spaces, as pasted from
    a spreadsheet. Tokens without any digit (column headers, names) are ignored; dots and dashes inside a
    number are how people copy them and are removed.
    """
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    for token in re.split(r"[\s,;|]+", raw or "")[:MAX_TOKENS]:
        token = token.strip().strip("\"'")
        if not token or not any(char.isdigit() for char in token):
            continue
        value = normalize_identifier(token)
        if not is_valid_finess(value):
            invalid.append(token[:30])
            continue
        if value in seen:
            duplicates += 1
            continue
        seen.add(value)
        valid.append(value)
    return valid, invalid, duplicates


def pilot_group_import_finess(*, group: PilotGroup, raw: str, actor: Actor, replace: bool = False) -> PilotImportReport:
    """Add the officines of a FINESS list to `group` (or make the group exactly that list with `replace`).

    Unknown and invalid numbers are reported, never silently dropped; the known ones are added all at once.
    """
    valid, invalid, duplicates = parse_finess_list(raw)
    report = PilotImportReport(invalid=invalid, duplicates=duplicates)
    with transaction.atomic():
        group = PilotGroup.objects.select_for_update().get(pk=group.pk)
        found = {p.finess: p for p in Pharmacy.objects.filter(finess__in=valid)}
        members = set(group.pharmacies.values_list("pk", flat=True))
        for finess in valid:
            pharmacy = found.get(finess)
            if pharmacy is None:
                report.unknown.append(finess)
            elif pharmacy.pk in members:
                report.already.append(pharmacy)
            else:
                report.added.append(pharmacy)
        if replace:
            keep = {p.pk for p in found.values()}
            report.removed = list(Pharmacy.objects.filter(pk__in=members - keep).order_by("finess"))
            group.pharmacies.remove(*report.removed)
        group.pharmacies.add(*report.added)
        if report.added or report.removed:
            audit_record(
                actor=actor,
                action="pilot_group.import",
                target=group,
                summary=f"Liste FINESS importée : {len(report.added)} officine(s) ajoutée(s), "
                f"{len(report.removed)} retirée(s), {len(report.unknown)} inconnue(s), "
                f"{len(report.invalid)} invalide(s).",
                after={
                    "added": [p.finess for p in report.added],
                    "removed": [p.finess for p in report.removed],
                    "unknown": report.unknown,
                    "invalid": report.invalid,
                },
            )
    return report


def service_restrict_to_pilot(*, group: PilotGroup | None, actor: Actor) -> None:
    """Restrict the whole service to `group` (before launch), or open it to every officine (None).

    `selectors.pharmacy_may_use_service` is the rule that reads this switch.
    """
    from vaccine_orders.portal.models import ServiceSettings

    with transaction.atomic():
        settings_row, _ = ServiceSettings.objects.select_for_update().get_or_create(pk=1)
        before = settings_row.pilot_group_id
        new = group.pk if group else None
        if before == new:
            return
        ServiceSettings.objects.filter(pk=1).update(pilot_group_id=new, updated_by=actor.user)
        audit_record(
            actor=actor,
            action="service.pilot_restriction",
            target=group,
            summary=f"Service réservé au groupe pilote « {group.name} »."
            if group
            else "Service ouvert à toutes les officines.",
            before={"pilot_group_id": before},
            after={"pilot_group_id": new},
        )
