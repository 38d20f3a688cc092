"""Import of the FINESS extraction (data.gouv.fr "etalab_cs1100507_stock_…", établissements géographiques).

Format: semicolon-separated (with CSV quoting), Latin-1 historically (UTF-8 lines are accepted too), no
header: a first metadata line ("finess;etalab;…"), then `structureet` lines (one per establishment, 31
positional columns plus a trailing ";") and `geolocalisation` lines (coordinates, not used here).

What goes in:
- accounts.Pharmacy: category 620 "Pharmacie d'Officine" (name, address, town, department from the file;
  the e-mail and settings the officine entered are never touched). A new officine gets its own lines
  (pharmacist, nurses' total) at once.
- Establishment: the categories of the establishment effector types (EffectorType.finess_categories).
Rejected lines: unknown record type, wrong number of columns, malformed FINESS or wrong check key, no name,
an officine in a department the service does not know.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import IO, Any

from accounts.models import Department, Pharmacy
from vaccine_orders.identifiers import FINESS_RE, is_valid_finess

from ..models import Attachment, Effector, EffectorType, Establishment, FinessStagingRow, ReferentialImport
from .common import (
    AuditBuffer,
    CopySink,
    ImportFormatError,
    ImportStats,
    MergeSpec,
    OrmSink,
    Rejections,
    active_pharmacy_by_establishment,
    clear_staging,
    deactivate,
    first_per_key,
    load_staging,
    mass_deactivation_blocked,
    merge_orm,
    staged,
)

PHARMACY_CATEGORY = "620"
STAGING_COLUMNS = [
    "line_number",
    "target",
    "finess",
    "legal_finess",
    "category_code",
    "category_label",
    "name",
    "address",
    "postal_code",
    "city",
    "department_code",
    "phone",
]
# Positions in a `structureet` line (the layout has not moved in years; only columns were added at the end).
NOFINESSET, NOFINESSEJ, RS, RSLONGUE = 1, 2, 3, 4
NUMVOIE, TYPVOIE, VOIE, COMPVOIE, LIEUDITBP = 7, 8, 9, 10, 11
DEPARTEMENT, LIGNEACHEMINEMENT, TELEPHONE, CATEGETAB, LIBCATEGETAB = 13, 15, 16, 18, 19
MIN_COLUMNS, MAX_COLUMNS = 31, 34
# FINESS writes the overseas departments with a letter.
OVERSEAS = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9E": "975", "9F": "976"}
STREET_TYPES = {
    "R": "RUE",
    "AV": "AVENUE",
    "BD": "BOULEVARD",
    "PL": "PLACE",
    "RTE": "ROUTE",
    "CHE": "CHEMIN",
    "ALL": "ALLÉE",
    "IMP": "IMPASSE",
    "QUA": "QUAI",
    "CRS": "COURS",
    "FG": "FAUBOURG",
    "PAS": "PASSAGE",
    "SQ": "SQUARE",
}
PHARMACY_FIELDS = ["legal_finess", "name", "address", "postal_code", "city", "department_id", "phone"]
ESTABLISHMENT_FIELDS = ["category_code", "category_label", "name", "address", "postal_code", "city", "department_id"]


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def department_code(value: str) -> str:
    return OVERSEAS.get(value, value)


def split_routing_line(line: str) -> tuple[str, str]:
    """ "01440 VIRIAT" → ("01440", "VIRIAT"); "97306 CAYENNE CEDEX" → ("97306", "CAYENNE")."""
    line = " ".join(line.split())
    postal, _, city = line.partition(" ")
    if not (len(postal) == 5 and postal.isdigit()):
        return "", line[:100]
    city = city.removesuffix(" CEDEX").strip()
    if city.endswith(" CEDEX") or " CEDEX " in city:
        city = city.split(" CEDEX")[0].strip()
    return postal, city[:100]


def address_of(fields: list[str]) -> str:
    street_type = fields[TYPVOIE].strip()
    parts = [
        fields[NUMVOIE].strip() + fields[COMPVOIE].strip(),
        STREET_TYPES.get(street_type, street_type),
        fields[VOIE].strip(),
    ]
    street = " ".join(p for p in parts if p)
    lieu_dit = fields[LIEUDITBP].strip()
    return (f"{street}, {lieu_dit}" if street and lieu_dit else street or lieu_dit)[:255]


def parse(
    stream: IO[bytes],
    *,
    open_sink: Callable[[], CopySink | OrmSink],
    stats: ImportStats,
    rejections: Rejections,
    progress: Callable[..., None] | None,
) -> None:
    categories = {
        code
        for t in EffectorType.objects.filter(kind=EffectorType.Kind.ESTABLISHMENT)
        for code in (t.finess_categories or [])
    }
    departments = set(Department.objects.values_list("code", flat=True))
    with staged(open_sink) as write:
        line_number = 0
        bytes_read = 0
        skipped = 0
        geolocations = 0
        structures = 0
        for raw in stream:
            line_number += 1
            bytes_read += len(raw)
            if progress is not None and not line_number % 20000:
                progress(bytes_read=bytes_read, lines=line_number)
            text = decode(raw).rstrip("\r\n")
            if line_number == 1 and text.startswith("finess;"):
                continue  # the metadata line: "finess;etalab;<n>;<date>"
            if not text.strip():
                skipped += 1
                continue
            fields = next(csv.reader([text], delimiter=";"))
            record = fields[0].strip()
            if record == "geolocalisation":
                geolocations += 1
                skipped += 1
                continue
            if record != "structureet":
                rejections.add(line_number, f"type de ligne inconnu « {record[:30]} »", raw)
                continue
            structures += 1
            if not MIN_COLUMNS <= len(fields) <= MAX_COLUMNS:
                rejections.add(
                    line_number, f"nombre de colonnes incorrect : {len(fields)} au lieu de {MIN_COLUMNS + 1}", raw
                )
                continue
            finess = fields[NOFINESSET].strip().upper()
            if not FINESS_RE.match(finess):
                rejections.add(line_number, f"numéro FINESS « {finess[:20]} » mal formé : 9 caractères attendus", raw)
                continue
            if not is_valid_finess(finess):
                rejections.add(
                    line_number, f"numéro FINESS « {finess} » invalide : la clé de contrôle ne correspond pas", raw
                )
                continue
            category = fields[CATEGETAB].strip()
            if category == PHARMACY_CATEGORY:
                target = FinessStagingRow.Target.PHARMACY
            elif category in categories:
                target = FinessStagingRow.Target.ESTABLISHMENT
            else:
                skipped += 1
                continue
            name = fields[RS].strip() or fields[RSLONGUE].strip()
            if not name:
                rejections.add(line_number, "raison sociale manquante", raw)
                continue
            department = department_code(fields[DEPARTEMENT].strip())
            if department not in departments:
                if target == FinessStagingRow.Target.PHARMACY:
                    rejections.add(line_number, f"département « {department} » inconnu du service", raw)
                    continue
                department = ""
            legal = fields[NOFINESSEJ].strip().upper()
            postal_code, city = split_routing_line(fields[LIGNEACHEMINEMENT])
            write(
                (
                    line_number,
                    target,
                    finess,
                    legal if is_valid_finess(legal) else "",
                    category,
                    fields[LIBCATEGETAB].strip()[:150],
                    name[:200],
                    address_of(fields),
                    postal_code,
                    city,
                    department,
                    fields[TELEPHONE].strip()[:20],
                )
            )
        stats.lines_read = line_number
        stats.skipped = skipped
        stats.details["lignes structureet"] = structures
        stats.details["lignes geolocalisation"] = geolocations
        if structures == 0:
            raise ImportFormatError(
                "Aucune ligne « structureet » : est-ce bien l'extraction FINESS des établissements (etalab) ?"
            )
        if progress is not None:
            progress(bytes_read=bytes_read, lines=line_number, final=True)


def _desired(target: str, fields: list[str]) -> Iterator[dict[str, Any]]:
    departments = dict(Department.objects.values_list("code", "id"))
    columns = [f for f in fields if f != "department_id"]
    rows = (
        FinessStagingRow.objects.filter(target=target)
        .order_by("finess", "line_number")
        .values("finess", *columns, "department_code")
        .iterator(chunk_size=2000)
    )
    for row in first_per_key(rows, "finess"):
        row["department_id"] = departments.get(row.pop("department_code"))
        yield row


def ensure_own_lines(pharmacies: list[Pharmacy]) -> None:
    """New officines get their own line and their nurses' total line, attached to them, as the officines
    created by hand do (services.pharmacy_own_effectors_ensure), in bulk."""
    types = list(EffectorType.objects.filter(code__in=("pharmacist", "nurse")))
    Effector.objects.bulk_create(
        [Effector(pharmacy=p, type=t) for p in pharmacies for t in types], ignore_conflicts=True
    )
    own = Effector.objects.filter(pharmacy__in=pharmacies, attachments__isnull=True)
    Attachment.objects.bulk_create(
        [Attachment(effector=e, pharmacy_id=e.pharmacy_id, source=Attachment.Source.SYSTEM) for e in own],
        ignore_conflicts=True,
    )


def _describe_pharmacy(pharmacy: Pharmacy) -> str:
    return f"{pharmacy.name} (FINESS {pharmacy.finess})"


def _describe_establishment(establishment: Establishment) -> str:
    return f"{establishment.name} (FINESS {establishment.finess})"


def merge(*, run: ReferentialImport, stats: ImportStats, audit: AuditBuffer, allow_mass: bool) -> None:
    pharmacy_stats = ImportStats()
    merge_orm(
        MergeSpec(
            model=Pharmacy,
            key="finess",
            fields=PHARMACY_FIELDS,
            label="FINESS",
            describe=_describe_pharmacy,
            pharmacies_of=lambda ids: {i: i for i in ids},
            audit_created=True,
            on_created=ensure_own_lines,
        ),
        _desired(FinessStagingRow.Target.PHARMACY, PHARMACY_FIELDS),
        stats=pharmacy_stats,
        audit=audit,
    )
    establishment_stats = ImportStats()
    merge_orm(
        MergeSpec(
            model=Establishment,
            key="finess",
            fields=ESTABLISHMENT_FIELDS,
            label="FINESS",
            describe=_describe_establishment,
            pharmacies_of=active_pharmacy_by_establishment,
        ),
        _desired(FinessStagingRow.Target.ESTABLISHMENT, ESTABLISHMENT_FIELDS),
        stats=establishment_stats,
        audit=audit,
    )

    staged = FinessStagingRow.objects.values("finess")
    missing_pharmacies = list(
        Pharmacy.objects.filter(is_active=True).exclude(finess__in=staged).values_list("pk", flat=True)
    )
    if not mass_deactivation_blocked(
        missing=len(missing_pharmacies),
        active=Pharmacy.objects.filter(is_active=True).count(),
        allow=allow_mass,
        stats=stats,
        label="officines FINESS",
    ):
        deactivate(
            model=Pharmacy,
            ids=missing_pharmacies,
            owner_field="pharmacy_id",
            pharmacies_of=lambda ids: {i: i for i in ids},
            describe=_describe_pharmacy,
            label="FINESS",
            run=run,
            stats=pharmacy_stats,
            audit=audit,
        )
    missing_establishments = list(
        Establishment.objects.filter(is_active=True).exclude(finess__in=staged).values_list("pk", flat=True)
    )
    if not mass_deactivation_blocked(
        missing=len(missing_establishments),
        active=Establishment.objects.filter(is_active=True).count(),
        allow=allow_mass,
        stats=stats,
        label="établissements FINESS",
    ):
        deactivate(
            model=Establishment,
            ids=missing_establishments,
            owner_field="effector__establishment_id",
            pharmacies_of=active_pharmacy_by_establishment,
            describe=_describe_establishment,
            label="FINESS",
            run=run,
            stats=establishment_stats,
            audit=audit,
        )
    for part in (pharmacy_stats, establishment_stats):
        for name in ("created", "updated", "unchanged", "deactivated", "flagged"):
            setattr(stats, name, getattr(stats, name) + getattr(part, name))
    stats.details["officines"] = _counts(pharmacy_stats)
    stats.details["établissements"] = _counts(establishment_stats)


def _counts(part: ImportStats) -> dict[str, int]:
    return {
        "créées": part.created,
        "modifiées": part.updated,
        "inchangées": part.unchanged,
        "désactivées": part.deactivated,
        "rattachements à revoir": part.flagged,
    }


def run_finess(
    stream: IO[bytes],
    *,
    run: ReferentialImport,
    use_copy: bool,
    stats: ImportStats,
    rejections: Rejections,
    audit: AuditBuffer,
    progress: Callable[..., None] | None,
    allow_mass: bool,
) -> None:
    load_staging(
        stream,
        model=FinessStagingRow,
        columns=STAGING_COLUMNS,
        parse=parse,
        use_copy=use_copy,
        stats=stats,
        rejections=rejections,
        progress=progress,
    )
    with stats.step("officines et établissements"):
        merge(run=run, stats=stats, audit=audit, allow_mass=allow_mass)
    clear_staging(FinessStagingRow, use_copy=use_copy)
