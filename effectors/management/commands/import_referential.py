"""manage.py import_referential {rpps,finess} FICHIER — import a national extraction from the terminal.

Shows a progress bar, prints the report, and exits non-zero when the import fails. The same import as the
admin upload, run in this process instead of a Celery worker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from effectors.models import ReferentialImport
from effectors.referential.progress import ProgressBar
from effectors.referential.runner import referential_import_create, referential_import_run
from vaccine_orders.audit.actors import Actor


class Command(BaseCommand):
    help = "Importe une extraction RPPS (PS_LibreAcces_Personne_activite) ou FINESS (etalab) : .txt, .csv ou .zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=[k.value for k in ReferentialImport.Kind])
        parser.add_argument("path", type=Path)
        parser.add_argument("--no-progress", action="store_true", help="sans barre de progression")
        parser.add_argument("--json", action="store_true", help="affiche le rapport en JSON (bench, scripts)")
        parser.add_argument("--orm", action="store_true", help="chemin ORM même sur PostgreSQL (comparaison)")
        parser.add_argument(
            "--allow-mass-deactivation",
            action="store_true",
            help="désactive les entrées absentes même si elles dépassent la moitié des entrées actives",
        )

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["path"]  # type: ignore[assignment]
        kind = str(options["kind"])
        if not path.is_file():
            raise CommandError(f"Fichier introuvable : {path}")
        run = referential_import_create(
            kind=kind, actor=Actor.system(f"Commande import_referential {kind}"), source_name=path.name
        )
        label = "RPPS  " if kind == ReferentialImport.Kind.RPPS else "FINESS"
        show_progress = not options["no_progress"] and not options["json"]
        run = referential_import_run(
            import_id=run.pk,
            path=path,
            progress_factory=(lambda size: ProgressBar(label, total_bytes=size)) if show_progress else None,
            force_orm=bool(options["orm"]),
            allow_mass_deactivation=bool(options["allow_mass_deactivation"]),
        )
        report = {
            "id": run.pk,
            "status": run.status,
            "lines_read": run.lines_read,
            "created": run.created_count,
            "updated": run.updated_count,
            "unchanged": run.unchanged_count,
            "rejected": run.rejected_count,
            "skipped": run.skipped_count,
            "deactivated": run.deactivated_count,
            "flagged": run.flagged_count,
            "details": run.details,
            "error": run.error_message,
        }
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        else:
            self.stdout.write(
                f"\n{run} : {run.get_status_display()}\n"
                f"  lignes lues        {run.lines_read:>12}\n"
                f"  créés              {run.created_count:>12}\n"
                f"  modifiés           {run.updated_count:>12}\n"
                f"  inchangés          {run.unchanged_count:>12}\n"
                f"  désactivés         {run.deactivated_count:>12}\n"
                f"  lignes rejetées    {run.rejected_count:>12}\n"
                f"  hors périmètre     {run.skipped_count:>12}\n"
                f"  rattachements à revoir {run.flagged_count:>8}\n"
            )
            for rejection in run.rejections.all()[:20]:
                self.stdout.write(f"  ligne {rejection.line_number} : {rejection.reason}")
            for key, value in run.details.items():
                self.stdout.write(f"  {key} : {value}")
        if run.status != ReferentialImport.Status.SUCCEEDED:
            sys.stderr.write(f"Échec : {run.error_message}\n")
            raise SystemExit(1)
