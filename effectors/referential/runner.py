"""Running a referential import: claim the run, stream the file, merge in one transaction, write the report.

Entry points: referential_import_create (admin upload, command), referential_import_run (Celery task,
command), referential_import_abandon (admin, for a run whose worker died).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from ..models import ReferentialImport
from .common import AuditBuffer, ImportFormatError, ImportStats, Rejections, tune_session_for_bulk_work
from .finess import run_finess
from .rpps import run_rpps
from .source import SourceError, open_source

logger = logging.getLogger(__name__)

RUNNERS = {ReferentialImport.Kind.RPPS: run_rpps, ReferentialImport.Kind.FINESS: run_finess}


def referential_import_create(
    *,
    kind: str,
    actor: Actor,
    upload: UploadedFile | None = None,
    source_name: str = "",
    allow_mass_deactivation: bool = False,
) -> ReferentialImport:
    """A pending import. With `upload` (admin), the file is stored where the worker can read it (MEDIA_ROOT,
    shared by the web and worker containers)."""
    run = ReferentialImport(
        kind=kind,
        created_by=actor.user,
        source_name=(source_name or getattr(upload, "name", ""))[:255],
        allow_mass_deactivation=allow_mass_deactivation,
    )
    if upload is not None:
        run.source_file = upload
    with transaction.atomic():
        run.save()
        audit_record(
            actor=actor,
            action="referential.import_requested",
            target=run,
            summary=f"Import {run.get_kind_display()} demandé : {run.source_name}",
        )
    return run


def referential_import_run(
    *,
    import_id: int,
    path: str | Path | None = None,
    progress_factory: Callable[[int], Callable[..., None]] | None = None,
    force_orm: bool = False,
    allow_mass_deactivation: bool = False,
) -> ReferentialImport:
    """Run a pending import once. A run already claimed (a redelivered task) is left alone.

    On PostgreSQL the lines are streamed with COPY and merged with set-based SQL; elsewhere (or with
    `force_orm`) through bulk_create and the ORM. The merge is one transaction: a failure writes nothing
    but the run's status and error.
    """
    try:
        # Claim by conditional update: a redelivered task finds nothing left to claim. The partial unique
        # index refuses a second running import of the same kind.
        with transaction.atomic():
            claimed = ReferentialImport.objects.filter(pk=import_id, status=ReferentialImport.Status.PENDING).update(
                status=ReferentialImport.Status.RUNNING, started_at=timezone.now()
            )
    except IntegrityError:
        ReferentialImport.objects.filter(pk=import_id, status=ReferentialImport.Status.PENDING).update(
            status=ReferentialImport.Status.FAILED,
            finished_at=timezone.now(),
            error_message="Un autre import de ce référentiel est déjà en cours : relancez celui-ci après sa fin.",
        )
        return ReferentialImport.objects.get(pk=import_id)
    run = ReferentialImport.objects.get(pk=import_id)
    if claimed != 1:
        logger.info("referential import %s already claimed (%s)", import_id, run.status)
        return run

    started = time.monotonic()
    stats = ImportStats()
    rejections = Rejections()
    use_copy = connection.vendor == "postgresql" and not force_orm
    try:
        fileobj: IO[bytes] | None = None
        if path is None:
            if not run.source_file:
                raise SourceError("Cet import n'a pas de fichier.")
            fileobj = run.source_file.open("rb")
        try:
            with open_source(path=path, fileobj=fileobj, kind=run.kind) as source:
                progress = progress_factory(source.size) if progress_factory else None
                with transaction.atomic():
                    tune_session_for_bulk_work()
                    audit = AuditBuffer(run=run, now=timezone.now())
                    RUNNERS[run.kind](
                        source.stream,
                        run=run,
                        use_copy=use_copy,
                        stats=stats,
                        rejections=rejections,
                        audit=audit,
                        progress=progress,
                        allow_mass=allow_mass_deactivation or run.allow_mass_deactivation,
                    )
                    audit.flush()
                    rejections.save(run)
                    _finish(run, stats, started=started, use_copy=use_copy, audit=audit)
        finally:
            if fileobj is not None:
                fileobj.close()
    except (ImportFormatError, SourceError) as exc:
        _fail(run, str(exc))
    except Exception as exc:
        logger.exception("referential import %s failed", import_id)
        _fail(run, f"Erreur inattendue ({type(exc).__name__}) : {exc}"[:2000])
        raise
    run.refresh_from_db()
    return run


def _finish(run: ReferentialImport, stats: ImportStats, *, started: float, use_copy: bool, audit: AuditBuffer) -> None:
    details: dict[str, Any] = dict(stats.details)
    details["méthode"] = "COPY + INSERT … ON CONFLICT (PostgreSQL)" if use_copy else "ORM (bulk_create)"
    details["durée (s)"] = round(time.monotonic() - started, 2)
    details["mémoire maximale (Mo)"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    details["événements d'audit"] = audit.written
    run.status = ReferentialImport.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.lines_read = stats.lines_read
    run.created_count = stats.created
    run.updated_count = stats.updated
    run.unchanged_count = stats.unchanged
    run.rejected_count = stats.rejected
    run.skipped_count = stats.skipped
    run.deactivated_count = stats.deactivated
    run.flagged_count = stats.flagged
    run.details = details
    run.error_message = ""
    run.save()
    audit_record(
        actor=Actor(user=run.created_by, label=audit.actor_label),
        action="referential.import",
        target=run,
        summary=(
            f"{run.get_kind_display()} : {stats.lines_read} lignes lues, {stats.created} créés, {stats.updated} "
            f"modifiés, {stats.unchanged} inchangés, {stats.deactivated} désactivés, {stats.rejected} lignes "
            f"rejetées, {stats.flagged} rattachements à revoir"
        ),
        after={
            "créés": stats.created,
            "modifiés": stats.updated,
            "inchangés": stats.unchanged,
            "désactivés": stats.deactivated,
            "rejetées": stats.rejected,
            "à revoir": stats.flagged,
        },
    )


def _fail(run: ReferentialImport, message: str) -> None:
    ReferentialImport.objects.filter(pk=run.pk).update(
        status=ReferentialImport.Status.FAILED, finished_at=timezone.now(), error_message=message
    )


def referential_import_abandon(*, run: ReferentialImport, actor: Actor) -> bool:
    """Mark a run stuck in "running" (its worker died) as failed, so that the next import can start."""
    with transaction.atomic():
        changed = ReferentialImport.objects.filter(pk=run.pk, status=ReferentialImport.Status.RUNNING).update(
            status=ReferentialImport.Status.FAILED,
            finished_at=timezone.now(),
            error_message="Interrompu : marqué comme échoué par un agent.",
        )
        if changed:
            audit_record(
                actor=actor, action="referential.import_abandoned", target=run, summary=f"{run} marqué comme échoué"
            )
    return bool(changed)
