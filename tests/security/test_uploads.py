"""Uploads are limited in size and type: a ceiling on every request (413 before the body is read), and each form's
own checks on what it expects (help guides: PDF only, 10 MB; FINESS list of a pilot group: 2 MB; DGS cap table:
200 kB; referential extraction: .txt, .csv or .zip)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from effectors.forms import ReferentialImportForm
from effectors.models import ReferentialImport
from sessions_calendar.forms import DgsImportForm, PilotImportForm
from tests import factories
from tests.psc import login_agent
from vaccine_orders.portal.forms import HelpDocumentAdminForm
from vaccine_orders.portal.models import HelpDocument

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def errors_of(form) -> str:
    form.is_valid()
    return " ".join(str(message) for messages in form.errors.values() for message in messages)


# --- the ceiling on every upload ------------------------------------------------------------------------------------


def test_an_upload_above_the_ceiling_is_refused_before_it_is_read(client, settings, monkeypatch):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    read = []
    from django.http import multipartparser

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", lambda self: read.append(1))
    response = client.post("/support/", {"piece": SimpleUploadedFile("gros.pdf", b"x" * (1024 * 1024 + 1))})
    assert response.status_code == 413
    assert "Fichier trop volumineux" in response.content.decode()
    assert "dépasse 1 Mo" in response.content.decode()
    assert read == []  # refused on its Content-Length: not a byte parsed


def test_an_upload_under_the_ceiling_goes_on_to_the_form(client, settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    response = client.post("/support/", {"piece": SimpleUploadedFile("petit.pdf", b"x" * 1000)})
    assert response.status_code == 400  # the support form's own answer (its fields are missing)


def test_the_ceiling_fits_the_national_referential_extraction(settings):
    assert settings.MAX_UPLOAD_BYTES == 1024 * 1024 * 1024


# --- help guides (portal) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("guide.docx", PDF, "Seuls les fichiers PDF"),
        ("guide.pdf", b"MZ\x90\x00 un programme", "n'est pas un PDF valide"),
        ("guide.pdf", PDF + b"0" * (10 * 1024 * 1024), "la limite est de 10 Mo"),
    ],
)
def test_a_help_guide_must_be_a_pdf_of_at_most_10_mb(name, content, message):
    form = HelpDocumentAdminForm({"title": "Guide", "sort_order": 0}, {"file": SimpleUploadedFile(name, content)})
    assert message in errors_of(form)


def test_a_real_pdf_guide_is_accepted_through_the_admin(db, settings):
    agent = factories.StaffUserFactory()
    from django.contrib.auth.models import Group

    from accounts.roles import ROLE_LOGISTICS

    agent.groups.add(Group.objects.get(name=ROLE_LOGISTICS))
    client = login_agent(Client(), agent)
    refused = client.post(
        "/admin/portal/helpdocument/add/",
        {"title": "Faux", "sort_order": 0, "file": SimpleUploadedFile("faux.pdf", b"<html>pas un pdf</html>")},
    )
    assert refused.status_code == 200 and "pas un PDF valide" in refused.content.decode()
    accepted = client.post(
        "/admin/portal/helpdocument/add/",
        {"title": "Guide", "sort_order": 0, "is_published": "on", "file": SimpleUploadedFile("guide.pdf", PDF)},
    )
    assert accepted.status_code == 302
    document = HelpDocument.objects.get()
    assert document.title == "Guide"
    stored = document.file.name.rsplit("/", 1)[-1]
    assert stored.endswith(".pdf") and not stored.startswith("guide")  # a random name on disk


# --- the calendar's imports (sessions_calendar) ---------------------------------------------------------------------


def test_a_pilot_finess_list_file_is_at_most_2_mb():
    big = SimpleUploadedFile("pilotes.csv", b"750000001\n" * 210_000)
    assert "dépasse 2 Mo" in errors_of(PilotImportForm({}, {"upload": big}))


def test_a_dgs_cap_table_is_at_most_200_kb():
    big = SimpleUploadedFile("dgs.csv", b"type;produit\n" * 20_000)
    assert "dépasse 200 ko" in errors_of(DgsImportForm({}, {"upload": big}))


# --- the referential extractions (effectors) ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["extraction.exe", "extraction.xlsx", "extraction"])
def test_a_referential_extraction_is_a_txt_csv_or_zip_file(name):
    form = ReferentialImportForm(
        {"kind": ReferentialImport.Kind.RPPS}, {"source_file": SimpleUploadedFile(name, b"data")}
    )
    assert "Le fichier doit être l'extraction publiée" in errors_of(form)


@pytest.mark.parametrize("name", ["PS_LibreAcces.txt", "etalab.csv", "PS_LibreAcces.zip"])
def test_the_published_extraction_formats_are_accepted(name):
    form = ReferentialImportForm(
        {"kind": ReferentialImport.Kind.RPPS}, {"source_file": SimpleUploadedFile(name, b"data")}
    )
    assert "source_file" not in (form.errors if not form.is_valid() else {})
