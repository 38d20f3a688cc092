"""The SpF staff's side: uploading an extraction, reading its report, the migration import, support's
decisions on transfers and on attachments to review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from effectors import services
from effectors.models import Attachment, ReferentialImport, TransferRequest
from tests import factories
from vaccine_orders.audit.actors import Actor

from .conftest import ATTACHMENTS_SAMPLE, FINESS_SAMPLE, RPPS_SAMPLE, run_import

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def text(response) -> str:
    return " ".join(BeautifulSoup(response.content, "html.parser").get_text(" ").split())


def upload(admin_client, kind: str, path, **extra):
    return admin_client.post(
        reverse("admin:effectors_referentialimport_add"),
        {"kind": kind, "source_file": SimpleUploadedFile(path.name, path.read_bytes()), **extra},
    )


def test_an_uploaded_extraction_is_imported_by_the_worker_once_committed(
    admin_client, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(admin_client, "finess", FINESS_SAMPLE)
    assert response.status_code == 302
    assert len(callbacks) == 1  # the task is enqueued after the commit, not before
    run = ReferentialImport.objects.get()
    assert (run.status, run.created_count, run.rejected_count) == ("succeeded", 17, 4)
    assert run.created_by.is_superuser
    assert run.source_file.name.startswith("referential/")


def test_the_upload_form_refuses_other_files(admin_client):
    response = admin_client.post(
        reverse("admin:effectors_referentialimport_add"),
        {"kind": "rpps", "source_file": SimpleUploadedFile("photo.png", b"\x89PNG")},
    )
    assert response.status_code == 200
    assert "Le fichier doit être l'extraction publiée" in text(response)
    assert not ReferentialImport.objects.exists()


def test_the_report_shows_counts_and_the_rejected_lines(admin_client):
    run_import("finess", FINESS_SAMPLE)
    run = run_import("rpps", RPPS_SAMPLE)
    page = BeautifulSoup(
        admin_client.get(reverse("admin:effectors_referentialimport_change", args=[run.pk])).content, "html.parser"
    )
    text = page.get_text(" ")
    assert "Ligne 18 : numéro RPPS" in " ".join(text.split())
    assert "Voir les 4 lignes rejetées" in text
    listing = admin_client.get(reverse("admin:effectors_importrejection_changelist") + f"?run__id__exact={run.pk}")
    assert listing.status_code == 200 and "encodage invalide" in listing.content.decode()


def test_a_stuck_import_can_be_marked_failed(admin_client):
    run = run_import("rpps", RPPS_SAMPLE)
    ReferentialImport.objects.filter(pk=run.pk).update(status="running")
    admin_client.post(
        reverse("admin:effectors_referentialimport_changelist"),
        {"action": "abandon", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    assert run.status == "failed" and "Interrompu" in run.error_message


def test_the_previous_portals_file_is_imported_after_a_dry_run(admin_client):
    run_import("finess", FINESS_SAMPLE)
    run_import("rpps", RPPS_SAMPLE)
    url = reverse("admin:effectors_attachment_import")
    sample = ATTACHMENTS_SAMPLE.read_bytes()

    # The dry run lists the faulty rows; nothing is written and nothing can be confirmed until they are fixed.
    dry = admin_client.post(url, {"import_file": SimpleUploadedFile("reprise.csv", sample), "format": 0})
    page = BeautifulSoup(dry.content, "html.parser")
    assert "Aucune officine de FINESS" in page.get_text()
    assert not page.select("form[action$='process_import/']")
    assert not Attachment.objects.filter(source=Attachment.Source.MIGRATION).exists()

    clean = b"\n".join(sample.splitlines()[:5]) + b"\n"
    dry = admin_client.post(url, {"import_file": SimpleUploadedFile("reprise.csv", clean), "format": 0})
    page = BeautifulSoup(dry.content, "html.parser")
    assert not Attachment.objects.filter(source=Attachment.Source.MIGRATION).exists()
    confirm = {field["name"]: field.get("value", "") for field in page.select("form input[type=hidden]")}
    done = admin_client.post(reverse("admin:effectors_attachment_process_import"), confirm)
    assert done.status_code == 302
    assert Attachment.objects.filter(source=Attachment.Source.MIGRATION).count() == 4


def test_support_decides_a_transfer_left_unanswered(admin_client, pharmacy_a, pharmacy_b):
    doctor = factories.ProfessionalFactory()
    services.attachment_attach(pharmacy=pharmacy_b, identifier=doctor.rpps, actor=SYSTEM)
    fresh = services.transfer_request_create(pharmacy=pharmacy_a, identifier=doctor.rpps, actor=SYSTEM)
    changelist = reverse("admin:effectors_transferrequest_changelist")
    assert "0 demande" in admin_client.get(changelist + "?support=a_decider").content.decode()

    response = admin_client.post(
        changelist, {"action": "accept_by_support", "_selected_action": [fresh.pk]}, follow=True
    )
    assert "L'officine actuelle a jusqu'au" in text(response)
    fresh.refresh_from_db()
    assert fresh.status == "pending"

    TransferRequest.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(days=8))
    overdue = admin_client.get(changelist + "?support=a_decider").content.decode()
    assert "au support de décider" in overdue
    admin_client.post(changelist, {"action": "accept_by_support", "_selected_action": [fresh.pk]})
    fresh.refresh_from_db()
    assert (fresh.status, fresh.decided_by_support) == ("accepted", True)
    assert Attachment.objects.get(detached_at__isnull=True, effector__professional=doctor).pharmacy == pharmacy_a


def test_support_marks_a_flagged_attachment_reviewed(admin_client, pharmacy_a):
    effector = factories.attached_effector(pharmacy_a, "doctor")
    attachment = effector.attachments.get()
    Attachment.objects.filter(pk=attachment.pk).update(needs_review=True, review_reason="Absent du RPPS")
    admin_client.post(
        reverse("admin:effectors_attachment_changelist"),
        {"action": "mark_reviewed", "_selected_action": [attachment.pk]},
    )
    attachment.refresh_from_db()
    assert not attachment.needs_review


def test_the_new_changelists_open(admin_client, django_assert_max_num_queries):
    run_import("finess", FINESS_SAMPLE)
    run_import("rpps", RPPS_SAMPLE)
    for name in ("referentialimport", "importrejection", "transferrequest", "attachment"):
        with django_assert_max_num_queries(15):
            assert admin_client.get(reverse(f"admin:effectors_{name}_changelist")).status_code == 200
