"""What the RPPS and FINESS importers share: counters, rejected lines, the staging sinks (COPY on PostgreSQL,
bulk_create elsewhere), the ORM merge, and what happens to entries that left the national file.

Memory stays bounded whatever the file size: lines are streamed into the staging table, merges walk it in
batches, and only the first MAX_STORED_REJECTIONS rejected lines are kept (all are counted).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone

from vaccine_orders.audit.models import AuditEvent

from ..models import Attachment, ImportRejection, ReferentialImport

BATCH = 2000
MAX_STORED_REJECTIONS = 10_000
# Above this share of the active entries, disappearing entries are not deactivated: a truncated or wrong
# file must not switch the referential off. The admin can force it (see the `allow_mass_deactivation` flag).
MAX_DEACTIVATION_RATIO = 0.5


class ImportFormatError(Exception):
    """The file as a whole is unusable (missing columns, empty): nothing is written."""


@dataclass
class ImportStats:
    lines_read: int = 0
    rejected: int = 0
    skipped: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    flagged: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def bump(self, key: str, amount: int = 1) -> None:
        self.details[key] = self.details.get(key, 0) + amount

    def warn(self, text: str) -> None:
        self.details.setdefault("avertissements", []).append(text)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step of the import: the report says where the minutes went."""
        started = time.monotonic()
        yield
        self.details.setdefault("étapes (s)", {})[name] = round(time.monotonic() - started, 2)


class Rejections:
    def __init__(self) -> None:
        self.items: list[tuple[int, str, str]] = []
        self.count = 0

    def add(self, line_number: int, reason: str, raw: bytes | str) -> None:
        self.count += 1
        if len(self.items) < MAX_STORED_REJECTIONS:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            self.items.append((line_number, reason[:255], text.strip()[:300]))

    def save(self, run: ReferentialImport) -> None:
        ImportRejection.objects.filter(run=run).delete()
        ImportRejection.objects.bulk_create(
            (ImportRejection(run=run, line_number=n, reason=r, excerpt=e) for n, r, e in self.items),
            batch_size=BATCH,
        )


def batched(iterable: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- Staging ------------------------------------------------------------------------------------------


class CopySink:
    """Streams rows into the staging table with PostgreSQL COPY: one statement for the whole file."""

    def __init__(self, model: type[models.Model], columns: list[str]) -> None:
        table = model._meta.db_table
        self._cursor = connection.cursor()
        raw_cursor = self._cursor.cursor  # the psycopg cursor behind Django's wrapper
        self._copy_cm = raw_cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")
        self._copy = self._copy_cm.__enter__()
        self.write = self._copy.write_row

    def close(self, error: BaseException | None = None) -> None:
        if error is None:
            self._copy_cm.__exit__(None, None, None)
        else:
            self._copy_cm.__exit__(type(error), error, error.__traceback__)
        self._cursor.close()


class OrmSink:
    """The same through bulk_create, for SQLite (tests, `make run`)."""

    def __init__(self, model: type[models.Model], columns: list[str]) -> None:
        self.model = model
        self.columns = columns
        self.buffer: list[models.Model] = []

    def write(self, row: tuple[Any, ...]) -> None:
        self.buffer.append(self.model(**dict(zip(self.columns, row, strict=True))))
        if len(self.buffer) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        self.model.objects.bulk_create(self.buffer)
        self.buffer = []

    def close(self, error: BaseException | None = None) -> None:
        if error is None:
            self._flush()


@contextlib.contextmanager
def staged(open_sink: Callable[[], CopySink | OrmSink]) -> Iterator[Callable[[tuple[Any, ...]], None]]:
    """Open the staging sink once the reference data is read: while a COPY is open, its connection can run
    no other statement."""
    sink = open_sink()
    try:
        yield sink.write
    except BaseException as exc:
        sink.close(exc)
        raise
    sink.close()


def clear_staging(model: type[models.Model], *, use_copy: bool) -> None:
    if use_copy:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {model._meta.db_table}")
    else:
        model.objects.all().delete()


def load_staging(
    stream: Any,
    *,
    model: type[models.Model],
    columns: list[str],
    parse: Callable[..., None],
    use_copy: bool,
    stats: ImportStats,
    rejections: Rejections,
    progress: Callable[..., None] | None,
) -> None:
    """Empty the staging table, then stream the file into it through `parse` (COPY on PostgreSQL)."""
    clear_staging(model, use_copy=use_copy)
    sink = CopySink if use_copy else OrmSink
    with stats.step("lecture du fichier et chargement"):
        parse(stream, open_sink=lambda: sink(model, columns), stats=stats, rejections=rejections, progress=progress)
    stats.rejected = rejections.count


def tune_session_for_bulk_work() -> None:
    """An import is a long batch statement: the web's 30 s statement timeout and 3 s lock timeout do not fit
    it. SET LOCAL: the settings end with the import's transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SET LOCAL lock_timeout = '60s'")
            # Sorting a million staged lines in memory instead of on disk (server memory, for this statement).
            cursor.execute("SET LOCAL work_mem = '256MB'")


# --- Audit ----------------------------------------------------------------------------------------


class AuditBuffer:
    """Audit events of one import, written in batches inside the import's transaction."""

    def __init__(self, *, run: ReferentialImport, now: datetime) -> None:
        self.actor = run.created_by
        self.actor_label = f"Import {run.get_kind_display().split(' ')[0]} n° {run.pk}"[:255]
        self.now = now
        self.buffer: list[AuditEvent] = []
        self.written = 0
        self._types: dict[type[models.Model], ContentType] = {}

    def add(
        self,
        *,
        action: str,
        target: models.Model,
        pharmacy_id: int | None,
        summary: str,
        before: Any = None,
        after: Any = None,
        target_repr: str = "",
    ) -> None:
        model = type(target)
        if model not in self._types:
            self._types[model] = ContentType.objects.get_for_model(model)
        self.buffer.append(
            AuditEvent(
                created_at=self.now,
                actor=self.actor,
                actor_label=self.actor_label,
                action=action,
                pharmacy_id=pharmacy_id,
                target_type=self._types[model],
                target_id=str(target.pk),
                target_repr=(target_repr or str(target))[:255],
                summary=summary,
                before=before,
                after=after,
            )
        )
        if len(self.buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            AuditEvent.objects.bulk_create(self.buffer)
            self.written += len(self.buffer)
            self.buffer = []


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


# --- The ORM merge ----------------------------------------------------------------------------------


@dataclass
class MergeSpec:
    """How one model is upserted from the desired records of the file."""

    model: type[models.Model]
    key: str
    fields: list[str]
    label: str  # "RPPS", "FINESS"
    describe: Callable[[models.Model], str]
    # For each changed object, the officine whose history shows the change (None: no officine concerned).
    pharmacies_of: Callable[[list[int]], dict[int, int]]
    audit_created: bool = False
    create_defaults: dict[str, Any] = field(default_factory=dict)
    on_created: Callable[[list[models.Model]], None] | None = None


def merge_orm(spec: MergeSpec, records: Iterable[dict[str, Any]], *, stats: ImportStats, audit: AuditBuffer) -> None:
    """Upsert `records` (dicts with the key and fields, unique by key) in batches, counting created, updated
    (including reactivated) and unchanged rows, and auditing every change of an existing row."""
    model = spec.model
    has_updated_at = any(f.name == "updated_at" for f in model._meta.fields)
    reactivated_ids: list[int] = []
    for batch in batched(records, 1000):
        existing = model.objects.in_bulk([r[spec.key] for r in batch], field_name=spec.key)
        to_create: list[models.Model] = []
        changes: list[tuple[models.Model, dict[str, tuple[Any, Any]]]] = []
        for record in batch:
            obj = existing.get(record[spec.key])
            if obj is None:
                to_create.append(model(**record, is_active=True, **spec.create_defaults))
                continue
            diff = {f: (getattr(obj, f), record[f]) for f in spec.fields if getattr(obj, f) != record[f]}
            if not obj.is_active:
                diff["is_active"] = (False, True)
                reactivated_ids.append(obj.pk)
            if not diff:
                stats.unchanged += 1
                continue
            for name, (_, new) in diff.items():
                setattr(obj, name, new)
            if has_updated_at:
                obj.updated_at = audit.now
            changes.append((obj, diff))
        if to_create:
            created = model.objects.bulk_create(to_create)
            stats.created += len(created)
            if spec.on_created:
                spec.on_created(created)
            if spec.audit_created:
                for obj in created:
                    audit.add(
                        action="referential.created",
                        target=obj,
                        pharmacy_id=spec.pharmacies_of([obj.pk]).get(obj.pk),
                        summary=f"Création depuis le référentiel {spec.label} : {spec.describe(obj)}",
                    )
        if changes:
            update_fields = [*spec.fields, "is_active"] + (["updated_at"] if has_updated_at else [])
            model.objects.bulk_update([obj for obj, _ in changes], update_fields)
            stats.updated += len(changes)
            pharmacies = spec.pharmacies_of([obj.pk for obj, _ in changes])
            for obj, diff in changes:
                reactivated = "is_active" in diff
                audit.add(
                    action="referential.reactivated" if reactivated else "referential.updated",
                    target=obj,
                    pharmacy_id=pharmacies.get(obj.pk),
                    summary=(
                        f"{'Retour' if reactivated else 'Mise à jour'} dans le référentiel {spec.label} : "
                        f"{spec.describe(obj)} ({', '.join(sorted(diff))})"
                    ),
                    before={k: _jsonable(old) for k, (old, _) in diff.items()},
                    after={k: _jsonable(new) for k, (_, new) in diff.items()},
                )
    if reactivated_ids:
        clear_disappearance_flags(spec.model, reactivated_ids)


def first_per_key(rows: Iterable[dict[str, Any]], key: str) -> Iterator[dict[str, Any]]:
    """From rows ordered by key (then by preference), the first of each key: DISTINCT ON in Python."""
    previous = object()
    for row in rows:
        if row[key] != previous:
            previous = row[key]
            yield row


# --- Entries that left the national file ----------------------------------------------------------

DISAPPEARED_REASON = "Absent de la dernière extraction du référentiel national ({label}, import n° {run})"


def mass_deactivation_blocked(*, missing: int, active: int, allow: bool, stats: ImportStats, label: str) -> bool:
    if allow or active == 0 or missing / active <= MAX_DEACTIVATION_RATIO:
        return False
    stats.warn(
        f"{missing} entrées {label} actives sur {active} sont absentes du fichier : plus de "
        f"{MAX_DEACTIVATION_RATIO:.0%}, le fichier est sans doute incomplet. Aucune n'a été désactivée ; "
        "relancez l'import avec « autoriser la désactivation massive » si c'est voulu."
    )
    return True


def deactivate(
    *,
    model: type[models.Model],
    ids: list[int],
    owner_field: str,
    pharmacies_of: Callable[[list[int]], dict[int, int]],
    describe: Callable[[models.Model], str],
    label: str,
    run: ReferentialImport,
    stats: ImportStats,
    audit: AuditBuffer,
) -> None:
    """Mark `ids` inactive (never deleted), flag their active attachments for review, audit each."""
    reason = DISAPPEARED_REASON.format(label=label, run=run.pk)
    has_updated_at = any(f.name == "updated_at" for f in model._meta.fields)
    for batch in batched(ids, 1000):
        values: dict[str, Any] = {"is_active": False}
        if has_updated_at:
            values["updated_at"] = audit.now
        model.objects.filter(pk__in=batch).update(**values)
        stats.deactivated += len(batch)
        # owner_field leads from an attachment to the deactivated row ("effector__professional_id",
        # "pharmacy_id"…).
        flagged = Attachment.objects.filter(
            **{f"{owner_field}__in": batch}, detached_at__isnull=True, needs_review=False
        ).exclude(effector__pharmacy__isnull=False)
        flagged_by_owner: dict[int, int] = {}
        for owner_id in flagged.values_list(owner_field, flat=True):
            flagged_by_owner[owner_id] = flagged_by_owner.get(owner_id, 0) + 1
        stats.flagged += flagged.update(needs_review=True, review_reason=reason)
        pharmacies = pharmacies_of(batch)
        for obj in model.objects.filter(pk__in=batch):
            count = flagged_by_owner.get(obj.pk, 0)
            audit.add(
                action="referential.deactivated",
                target=obj,
                pharmacy_id=pharmacies.get(obj.pk),
                summary=(
                    f"Absent de l'extraction {label} : {describe(obj)} est désactivé"
                    + (f" ; {count} rattachement(s) à revoir" if count else "")
                ),
                before={"is_active": True},
                after={"is_active": False},
            )


def clear_disappearance_flags(model: type[models.Model], ids: list[int]) -> None:
    """An entry back in the file: the review flags the import had set on its attachments are lifted."""
    lookup = {
        "Professional": "effector__professional_id__in",
        "Establishment": "effector__establishment_id__in",
        "Pharmacy": "pharmacy_id__in",
    }[model.__name__]
    for batch in batched(ids, 1000):
        Attachment.objects.filter(
            detached_at__isnull=True,
            needs_review=True,
            review_reason__startswith="Absent de la dernière extraction",
            **{lookup: batch},
        ).update(needs_review=False, review_reason="")


def active_pharmacy_by_professional(ids: list[int]) -> dict[int, int]:
    return dict(
        Attachment.objects.filter(detached_at__isnull=True, effector__professional_id__in=ids).values_list(
            "effector__professional_id", "pharmacy_id"
        )
    )


def active_pharmacy_by_establishment(ids: list[int]) -> dict[int, int]:
    return dict(
        Attachment.objects.filter(detached_at__isnull=True, effector__establishment_id__in=ids).values_list(
            "effector__establishment_id", "pharmacy_id"
        )
    )


def now() -> datetime:
    return timezone.now()
