"""The terminal command (with its progress bar) and the Celery task run the same import."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from effectors.models import ReferentialImport
from effectors.referential.progress import ProgressBar
from effectors.referential.runner import referential_import_create
from effectors.tasks import referential_import_task
from vaccine_orders.audit.actors import Actor

from .conftest import FINESS_SAMPLE, RPPS_SAMPLE

pytestmark = pytest.mark.django_db


def test_the_command_prints_a_json_report(capsys):
    call_command("import_referential", "finess", str(FINESS_SAMPLE), "--json")
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["status"], report["created"], report["rejected"]) == ("succeeded", 17, 4)


def test_the_command_prints_the_report_and_the_rejected_lines(capsys):
    call_command("import_referential", "rpps", str(RPPS_SAMPLE), "--no-progress")
    out = capsys.readouterr().out
    assert "lignes rejetées" in out and "ligne 20 : encodage invalide" in out


def test_the_command_fails_loudly(tmp_path):
    with pytest.raises(CommandError, match="Fichier introuvable"):
        call_command("import_referential", "rpps", str(tmp_path / "absent.txt"))
    empty = tmp_path / "vide.txt"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:
        call_command("import_referential", "rpps", str(empty), "--no-progress")
    assert exit_.value.code == 1
    assert ReferentialImport.objects.get().error_message == "Le fichier est vide."


def test_the_progress_bar_reports_share_and_rate():
    stream = io.StringIO()
    bar = ProgressBar("RPPS", total_bytes=1000, stream=stream)
    bar(bytes_read=500, lines=10)
    bar(bytes_read=1000, lines=20, final=True)
    last = stream.getvalue().strip().splitlines()[-1]
    assert "100.0%" in last and "20 lignes" in last and "lignes/s" in last


def test_the_task_imports_the_uploaded_file_by_id_and_a_redelivery_does_nothing(run_tasks):
    run = referential_import_create(kind="rpps", actor=Actor.system("test"))
    run.source_file.save("rpps.txt", ContentFile(RPPS_SAMPLE.read_bytes()))
    referential_import_task.delay(run.pk)
    run.refresh_from_db()
    assert (run.status, run.created_count) == ("succeeded", 11)
    referential_import_task.delay(run.pk)
    assert ReferentialImport.objects.get(pk=run.pk).finished_at == run.finished_at
