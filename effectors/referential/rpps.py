"""Import of the RPPS extraction "PS_LibreAcces_Personne_activite" (Annuaire santé, ANS).

Format: UTF-8, pipe-separated, one header line, a trailing "|" on every line, about 1.9 million lines, one
line per activity of a person (a person has several). Columns are read by header name: the ANS adds and
moves columns between releases.

What goes in:
- Professional: one row per RPPS (identifier type 8) of the professions that are effector types (doctor 10,
  pharmacist 21, dental surgeon 40, midwife 50, nurse 60). Of a person's lines, the one carrying a
  savoir-faire that makes a type of its own (médecine du travail, SM25) wins, then the first in the file.
- PharmacistAuthority: for pharmacists' lines whose "Numéro FINESS site" is a known officine, with the role
  read from the section of the Ordre's table and the role code: titulaire (section A/EA or FON-03), gérant
  after the titulaire's death (FON-07), gérant of a mining or mutualist pharmacy (section DM or FON-23 in the
  sectors SA38/SA39). Other pharmacists' lines (adjoints…) give no authority.

Rejected lines (with their number): not UTF-8, wrong number of columns, malformed RPPS or wrong check key,
no name. Out of scope (counted, not rejected): ADELI identifiers, other professions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

from django.db import connection

from accounts.models import Department, PharmacistAuthority, Pharmacy
from vaccine_orders.identifiers import luhn_checksum_ok

from ..models import EffectorType, Professional, ReferentialImport, RppsStagingRow
from .common import (
    AuditBuffer,
    CopySink,
    ImportFormatError,
    ImportStats,
    MergeSpec,
    OrmSink,
    Rejections,
    active_pharmacy_by_professional,
    batched,
    clear_disappearance_flags,
    clear_staging,
    deactivate,
    first_per_key,
    load_staging,
    mass_deactivation_blocked,
    merge_orm,
    staged,
)

RPPS_ID_TYPE = "8"
Role = PharmacistAuthority.Role

# Header names, compared case- and space-insensitively.
REQUIRED_COLUMNS = {
    "id_type": "Type d'identifiant PP",
    "rpps": "Identifiant PP",
    "last_name": "Nom d'exercice",
    "first_name": "Prénom d'exercice",
    "profession_code": "Code profession",
}
OPTIONAL_COLUMNS = {
    "profession_label": "Libellé profession",
    "specialty_code": "Code savoir-faire",
    "postal_code": "Code postal (coord. structure)",
    "city": "Libellé commune (coord. structure)",
    "department_code": "Code Département (structure)",
    "finess_site": "Numéro FINESS site",
    "section": "Code section tableau pharmaciens",
    "role": "Code rôle",
    "sector": "Code secteur d'activité",
}
STAGING_COLUMNS = [
    "line_number",
    "rpps",
    "profession_code",
    "profession_label",
    "specialty_code",
    "preferred",
    "last_name",
    "first_name",
    "postal_code",
    "city",
    "department_code",
    "finess_site",
    "authority_role",
]
PROFESSIONAL_FIELDS = [
    "profession_code",
    "profession_label",
    "specialty_code",
    "last_name",
    "first_name",
    "postal_code",
    "city",
    "department_id",
]
# When one pharmacist has several lines for one officine, the strongest authority wins.
ROLE_PRIORITY = {Role.TITULAIRE: 0, Role.GERANT_APRES_DECES: 1, Role.GERANT_MINIERE_MUTUALISTE: 2}


def _norm(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def authority_role(section: str, role: str, sector: str) -> str:
    """The authority a pharmacist's activity line gives over its officine, or "" (adjoint, hospital…)."""
    if section in ("A", "EA") or role == "FON-03":
        return Role.TITULAIRE
    if role == "FON-07":
        return Role.GERANT_APRES_DECES
    if (section == "DM" or role == "FON-23") and sector in ("SA38", "SA39"):
        return Role.GERANT_MINIERE_MUTUALISTE
    return ""


def department_from_postal_code(postal_code: str) -> str:
    if len(postal_code) != 5 or not postal_code.isdigit():
        return ""
    if postal_code.startswith("97") or postal_code.startswith("98"):
        return postal_code[:3]
    if postal_code.startswith("20"):
        return "2A" if postal_code < "20200" else "2B"
    return postal_code[:2]


def parse(
    stream: IO[bytes],
    *,
    open_sink: Callable[[], CopySink | OrmSink],
    stats: ImportStats,
    rejections: Rejections,
    progress: Callable[..., None] | None,
) -> None:
    """Read the file line by line into the staging sink. The hot loop of the import: keep it lean."""
    header_raw = stream.readline()
    if not header_raw:
        raise ImportFormatError("Le fichier est vide.")
    try:
        header = header_raw.decode("utf-8").rstrip("\r\n").split("|")
    except UnicodeDecodeError as exc:
        raise ImportFormatError("La ligne d'en-tête n'est pas en UTF-8 : ce n'est pas une extraction RPPS.") from exc
    positions = {_norm(name): index for index, name in enumerate(header)}
    missing = [label for label in REQUIRED_COLUMNS.values() if _norm(label) not in positions]
    if missing:
        raise ImportFormatError(
            "Colonnes absentes de l'en-tête : " + ", ".join(f"« {m} »" for m in missing) + ". Est-ce bien le fichier "
            "« PS_LibreAcces_Personne_activite » ?"
        )
    col = {key: positions[_norm(label)] for key, label in REQUIRED_COLUMNS.items()}
    col.update({key: positions.get(_norm(label), -1) for key, label in OPTIONAL_COLUMNS.items()})
    ncols = len(header)

    types = list(EffectorType.objects.exclude(rpps_profession_code=""))
    wanted = {t.rpps_profession_code for t in types}
    preferred_codes = {code for t in types for code in (t.rpps_specialty_codes or [])}
    departments = set(Department.objects.values_list("code", flat=True))

    i_type, i_rpps, i_last, i_first, i_prof = (
        col[k] for k in ("id_type", "rpps", "last_name", "first_name", "profession_code")
    )
    i_label, i_spec, i_postal, i_city, i_dept = (
        col[k] for k in ("profession_label", "specialty_code", "postal_code", "city", "department_code")
    )
    i_finess, i_section, i_role, i_sector = (col[k] for k in ("finess_site", "section", "role", "sector"))
    with staged(open_sink) as write:
        reject = rejections.add
        line_number = 1
        bytes_read = len(header_raw)
        skipped = 0
        last_valid_rpps = ""
        for raw in stream:
            line_number += 1
            bytes_read += len(raw)
            if progress is not None and not line_number % 20000:
                progress(bytes_read=bytes_read, lines=line_number - 1)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                reject(line_number, "encodage invalide : la ligne n'est pas en UTF-8", raw)
                continue
            fields = text.rstrip("\r\n").split("|")
            if len(fields) != ncols:
                if len(fields) == 1 and not fields[0].strip():
                    skipped += 1  # a blank line (the file's last, often)
                    continue
                reject(line_number, f"nombre de colonnes incorrect : {len(fields)} au lieu de {ncols}", raw)
                continue
            if fields[i_type] != RPPS_ID_TYPE:
                skipped += 1
                continue
            profession = fields[i_prof]
            if profession not in wanted:
                skipped += 1
                continue
            rpps = fields[i_rpps]
            # A person's lines follow one another: check the key once per person.
            if rpps != last_valid_rpps:
                if len(rpps) != 11 or not (rpps.isascii() and rpps.isdigit()):
                    reject(line_number, f"numéro RPPS « {rpps[:20]} » mal formé : 11 chiffres attendus", raw)
                    continue
                if not luhn_checksum_ok(rpps):
                    reject(line_number, f"numéro RPPS « {rpps} » invalide : la clé de contrôle ne correspond pas", raw)
                    continue
                last_valid_rpps = rpps
            last_name = fields[i_last].strip()
            if not last_name:
                reject(line_number, "nom d'exercice manquant", raw)
                continue
            specialty = fields[i_spec] if i_spec >= 0 else ""
            postal_code = fields[i_postal].strip()[:5] if i_postal >= 0 else ""
            department = fields[i_dept].strip() if i_dept >= 0 else ""
            if department not in departments:
                department = department_from_postal_code(postal_code)
                if department not in departments:
                    department = ""
            finess_site = role = ""
            if profession == "21" and i_finess >= 0:
                role = authority_role(
                    fields[i_section] if i_section >= 0 else "",
                    fields[i_role] if i_role >= 0 else "",
                    fields[i_sector] if i_sector >= 0 else "",
                )
                if role:
                    finess_site = fields[i_finess].strip()[:9]
            write(
                (
                    line_number,
                    rpps,
                    profession,
                    fields[i_label][:100] if i_label >= 0 else "",
                    specialty[:16],
                    specialty in preferred_codes,
                    last_name[:100],
                    fields[i_first].strip()[:100],
                    postal_code,
                    fields[i_city].strip()[:100] if i_city >= 0 else "",
                    department,
                    finess_site,
                    role,
                )
            )
        stats.lines_read = line_number - 1
        stats.skipped = skipped
        if progress is not None:
            progress(bytes_read=bytes_read, lines=stats.lines_read, final=True)


def _describe(professional: Professional) -> str:
    return f"{professional.last_name} {professional.first_name} (RPPS {professional.rpps})".replace("  ", " ")


def _spec() -> MergeSpec:
    return MergeSpec(
        model=Professional,
        key="rpps",
        fields=PROFESSIONAL_FIELDS,
        label="RPPS",
        describe=_describe,
        pharmacies_of=active_pharmacy_by_professional,
    )


# --- Merge: ORM path (SQLite, and the reference the PostgreSQL path must agree with) -------------------


def _desired_professionals_orm() -> Iterator[dict[str, Any]]:
    departments = dict(Department.objects.values_list("code", "id"))
    rows = (
        RppsStagingRow.objects.order_by("rpps", "-preferred", "line_number")
        .values("rpps", *[f for f in PROFESSIONAL_FIELDS if f != "department_id"], "department_code")
        .iterator(chunk_size=2000)
    )
    for row in first_per_key(rows, "rpps"):
        row["department_id"] = departments.get(row.pop("department_code"))
        yield row


def merge_professionals_orm(
    *, run: ReferentialImport, stats: ImportStats, audit: AuditBuffer, allow_mass: bool
) -> None:
    merge_orm(_spec(), _desired_professionals_orm(), stats=stats, audit=audit)
    missing = Professional.objects.filter(is_active=True).exclude(rpps__in=RppsStagingRow.objects.values("rpps"))
    ids = list(missing.values_list("pk", flat=True))
    active = Professional.objects.filter(is_active=True).count()
    if mass_deactivation_blocked(missing=len(ids), active=active, allow=allow_mass, stats=stats, label="RPPS"):
        return
    _deactivate(ids, run=run, stats=stats, audit=audit)


def _deactivate(ids: list[int], *, run: ReferentialImport, stats: ImportStats, audit: AuditBuffer) -> None:
    deactivate(
        model=Professional,
        ids=ids,
        owner_field="effector__professional_id",
        pharmacies_of=active_pharmacy_by_professional,
        describe=_describe,
        label="RPPS",
        run=run,
        stats=stats,
        audit=audit,
    )


# --- Merge: PostgreSQL set-based path ------------------------------------------------------------------

_COLUMNS = ", ".join(PROFESSIONAL_FIELDS)
_DIFFERS = f"(p.{', p.'.join(PROFESSIONAL_FIELDS)}) IS DISTINCT FROM (s.{', s.'.join(PROFESSIONAL_FIELDS)})"


def merge_professionals_postgres(
    *, run: ReferentialImport, stats: ImportStats, audit: AuditBuffer, allow_mass: bool
) -> None:
    """The same merge as the ORM path, in a few statements over the staged lines: DISTINCT ON picks each
    person's line, INSERT … ON CONFLICT DO UPDATE writes only rows that differ (a re-run writes nothing)."""
    try:
        _merge_professionals_postgres(run=run, stats=stats, audit=audit, allow_mass=allow_mass)
    finally:
        # ON COMMIT DROP is not enough when the import runs inside an outer transaction (tests, a savepoint).
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS tmp_rpps_src, tmp_rpps_changes")


def _merge_professionals_postgres(
    *, run: ReferentialImport, stats: ImportStats, audit: AuditBuffer, allow_mass: bool
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMP TABLE tmp_rpps_src ON COMMIT DROP AS
            SELECT DISTINCT ON (s.rpps) s.rpps, s.profession_code, s.profession_label, s.specialty_code,
                   s.last_name, s.first_name, s.postal_code, s.city, d.id AS department_id
            FROM {RppsStagingRow._meta.db_table} s
            LEFT JOIN {Department._meta.db_table} d ON d.code = s.department_code
            ORDER BY s.rpps, s.preferred DESC, s.line_number
            """  # noqa: S608 - table and column names are this module's constants
        )
        cursor.execute("CREATE UNIQUE INDEX ON tmp_rpps_src (rpps)")
        cursor.execute("ANALYZE tmp_rpps_src")
        # Rows that will change, with their values before: the audit trail of the update.
        cursor.execute(
            f"""
            CREATE TEMP TABLE tmp_rpps_changes ON COMMIT DROP AS
            SELECT p.id, p.is_active AS was_active, {", ".join(f"p.{f} AS old_{f}" for f in PROFESSIONAL_FIELDS)}
            FROM effectors_professional p JOIN tmp_rpps_src s ON s.rpps = p.rpps
            WHERE NOT p.is_active OR {_DIFFERS}
            """  # noqa: S608 - table and column names are this module's constants
        )
        cursor.execute(
            f"""
            WITH up AS (
                INSERT INTO effectors_professional AS p ({_COLUMNS}, rpps, email, is_active, updated_at)
                SELECT {_COLUMNS}, rpps, '', true, %s FROM tmp_rpps_src
                ON CONFLICT (rpps) DO UPDATE SET
                    {", ".join(f"{f} = EXCLUDED.{f}" for f in PROFESSIONAL_FIELDS)},
                    is_active = true, updated_at = EXCLUDED.updated_at
                WHERE NOT p.is_active OR
                    (p.{", p.".join(PROFESSIONAL_FIELDS)}) IS DISTINCT FROM
                    (EXCLUDED.{", EXCLUDED.".join(PROFESSIONAL_FIELDS)})
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
                   (SELECT count(*) FROM tmp_rpps_src)
            FROM up
            """,  # noqa: S608 - table and column names are this module's constants
            [audit.now],
        )
        created, updated, distinct = cursor.fetchone()
        stats.created += created
        stats.updated += updated
        stats.unchanged += distinct - created - updated
    _audit_changes_postgres(audit)

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM tmp_rpps_src s WHERE s.rpps = p.rpps)),
                   count(*)
            FROM effectors_professional p WHERE p.is_active
            """
        )
        missing, active = cursor.fetchone()
        if mass_deactivation_blocked(missing=missing, active=active, allow=allow_mass, stats=stats, label="RPPS"):
            return
        cursor.execute(
            """
            SELECT p.id FROM effectors_professional p
            WHERE p.is_active AND NOT EXISTS (SELECT 1 FROM tmp_rpps_src s WHERE s.rpps = p.rpps)
            ORDER BY p.id
            """
        )
        ids = [row[0] for row in cursor.fetchall()]
    _deactivate(ids, run=run, stats=stats, audit=audit)


def _audit_changes_postgres(audit: AuditBuffer) -> None:
    """One audit event per updated or reactivated professional, read back from tmp_rpps_changes in keyset
    pages so that a release that touches every row does not load them all at once."""
    last_id = 0
    reactivated: list[int] = []
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT c.id, c.was_active, {", ".join(f"c.old_{f}" for f in PROFESSIONAL_FIELDS)}
                FROM tmp_rpps_changes c WHERE c.id > %s ORDER BY c.id LIMIT 2000
                """,  # noqa: S608 - table and column names are this module's constants
                [last_id],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        ids = [row[0] for row in rows]
        current = Professional.objects.in_bulk(ids)
        pharmacies = active_pharmacy_by_professional(ids)
        for row in rows:
            obj = current[row[0]]
            was_active = row[1]
            old = dict(zip(PROFESSIONAL_FIELDS, row[2:], strict=True))
            diff = {f: (old[f], getattr(obj, f)) for f in PROFESSIONAL_FIELDS if old[f] != getattr(obj, f)}
            if not was_active:
                diff["is_active"] = (False, True)
                reactivated.append(obj.pk)
            audit.add(
                action="referential.reactivated" if not was_active else "referential.updated",
                target=obj,
                pharmacy_id=pharmacies.get(obj.pk),
                summary=(
                    f"{'Retour' if not was_active else 'Mise à jour'} dans le référentiel RPPS : {_describe(obj)} "
                    f"({', '.join(sorted(diff))})"
                ),
                before={k: v[0] for k, v in diff.items()},
                after={k: v[1] for k, v in diff.items()},
            )
    if reactivated:
        clear_disappearance_flags(Professional, reactivated)


# --- Pharmacist authorities (both paths: a few tens of thousands of rows) ------------------------------


def _authority_repr(authority: PharmacistAuthority, finess: str) -> str:
    name = f"{authority.first_name} {authority.last_name}".strip() or authority.rpps
    return f"{name} – {authority.get_role_display()} – {finess}"


def merge_authorities(*, stats: ImportStats, audit: AuditBuffer) -> None:
    """Authorities from the file replace the referential ones; those entered by SpF by hand are kept."""
    pharmacies = dict(Pharmacy.objects.values_list("finess", "id"))
    finess_of = {pk: finess for finess, pk in pharmacies.items()}
    desired: dict[tuple[str, int], tuple[str, str, str]] = {}
    rows = (
        RppsStagingRow.objects.exclude(authority_role="")
        .order_by("rpps", "finess_site", "line_number")
        .values_list("rpps", "finess_site", "authority_role", "last_name", "first_name")
        .iterator(chunk_size=5000)
    )
    for rpps, finess, role, last_name, first_name in rows:
        pharmacy_id = pharmacies.get(finess)
        if pharmacy_id is None:
            continue
        key = (rpps, pharmacy_id)
        if key not in desired or ROLE_PRIORITY[role] < ROLE_PRIORITY[desired[key][0]]:
            desired[key] = (role, last_name, first_name)

    existing = {(a.rpps, a.pharmacy_id): a for a in PharmacistAuthority.objects.all()}
    to_create, to_update = [], []
    counts = {"créées": 0, "modifiées": 0, "inchangées": 0, "désactivées": 0}
    for key, (role, last_name, first_name) in desired.items():
        authority = existing.get(key)
        if authority is None:
            to_create.append(
                PharmacistAuthority(
                    rpps=key[0],
                    pharmacy_id=key[1],
                    role=role,
                    last_name=last_name,
                    first_name=first_name,
                    source=PharmacistAuthority.Source.REFERENTIAL,
                    is_active=True,
                )
            )
            continue
        if authority.source == PharmacistAuthority.Source.MANUAL:
            continue  # SpF's hand-made entry has the last word
        new = {"role": role, "last_name": last_name, "first_name": first_name, "is_active": True}
        diff = {k: (getattr(authority, k), v) for k, v in new.items() if getattr(authority, k) != v}
        if not diff:
            counts["inchangées"] += 1
            continue
        for name, (_, value) in diff.items():
            setattr(authority, name, value)
        to_update.append(authority)
        audit.add(
            action="authority.updated",
            target=authority,
            target_repr=_authority_repr(authority, finess_of[key[1]]),
            pharmacy_id=authority.pharmacy_id,
            summary=f"Habilitation de {first_name} {last_name} (RPPS {key[0]}) mise à jour depuis le RPPS",
            before={k: v[0] for k, v in diff.items()},
            after={k: v[1] for k, v in diff.items()},
        )
    for batch in batched(to_create, 1000):
        for authority in PharmacistAuthority.objects.bulk_create(batch):
            audit.add(
                action="authority.granted",
                target=authority,
                target_repr=_authority_repr(authority, finess_of[authority.pharmacy_id]),
                pharmacy_id=authority.pharmacy_id,
                summary=(
                    f"Habilitation {authority.get_role_display().lower()} de {authority.first_name} "
                    f"{authority.last_name} (RPPS {authority.rpps}) créée depuis le RPPS"
                ),
            )
    counts["créées"] = len(to_create)
    if to_update:
        PharmacistAuthority.objects.bulk_update(to_update, ["role", "last_name", "first_name", "is_active"], 1000)
    counts["modifiées"] = len(to_update)
    gone = [
        authority
        for key, authority in existing.items()
        if key not in desired and authority.is_active and authority.source == PharmacistAuthority.Source.REFERENTIAL
    ]
    for batch in batched(gone, 1000):
        PharmacistAuthority.objects.filter(pk__in=[a.pk for a in batch]).update(is_active=False)
        for authority in batch:
            audit.add(
                action="authority.revoked",
                target=authority,
                target_repr=_authority_repr(authority, finess_of.get(authority.pharmacy_id, "")),
                pharmacy_id=authority.pharmacy_id,
                summary=(
                    f"Habilitation de {authority.first_name} {authority.last_name} (RPPS {authority.rpps}) "
                    "désactivée : absente du RPPS"
                ),
                before={"is_active": True},
                after={"is_active": False},
            )
    counts["désactivées"] = len(gone)
    stats.details["habilitations"] = counts


def run_rpps(
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
        model=RppsStagingRow,
        columns=STAGING_COLUMNS,
        parse=parse,
        use_copy=use_copy,
        stats=stats,
        rejections=rejections,
        progress=progress,
    )
    with stats.step("professionnels"):
        if use_copy:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {RppsStagingRow._meta.db_table}")
            merge_professionals_postgres(run=run, stats=stats, audit=audit, allow_mass=allow_mass)
        else:
            merge_professionals_orm(run=run, stats=stats, audit=audit, allow_mass=allow_mass)
    with stats.step("habilitations"):
        merge_authorities(stats=stats, audit=audit)
    clear_staging(RppsStagingRow, use_copy=use_copy)
