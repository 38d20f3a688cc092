"""'Besoin d'aide ?': guides, the FAQ in the service's words, and the PDF guides uploaded by SpF."""

import pytest
from bs4 import BeautifulSoup
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests import factories
from tests.portal.conftest import login_agent
from vaccine_orders.audit.actors import Actor
from vaccine_orders.portal import validators
from vaccine_orders.portal.models import HelpDocument
from vaccine_orders.portal.services import help_document_save

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def upload(name="guide.pdf", content=PDF, content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def make_document(**kwargs) -> HelpDocument:
    document = HelpDocument(title=kwargs.pop("title", "Guide de connexion CPS et e-CPS"), file=upload(), **kwargs)
    document.full_clean()
    return help_document_save(document=document, actor=Actor.system("SpF"))


def test_the_help_page_is_public_with_the_three_guides_and_the_faq(client):
    response = client.get(reverse("help"))
    assert response.status_code == 200
    page = BeautifulSoup(response.content, "html.parser")
    assert page.select_one("h1").get_text(strip=True) == "Besoin d'aide ?"
    sections = {section["id"]: section.get_text(" ", strip=True) for section in page.select("main section[id]")}
    assert "carte CPS" in sections["guide-connexion"]
    assert "e-CPS" in sections["guide-connexion"]
    assert "« Valider »" in sections["guide-saisie"]
    assert "« Modifier »" in sections["guide-saisie"]
    assert "mercredi 18 h" in sections["guide-suivi"]
    questions = [b.get_text(strip=True) for b in page.select("#faq .fr-accordion__btn")]
    assert len(questions) >= 6
    assert "Qui peut se connecter pour mon officine ?" in questions
    assert "du lundi au samedi, de 9 h à 20 h" in sections["support"]
    assert page.select_one("#support a")["href"] == reverse("support_request")


def test_published_guides_are_listed_and_downloaded_as_pdf(client):
    document = make_document(description="Pas à pas, avec la carte ou l'application.")
    hidden = make_document(title="Brouillon", is_published=False)
    page = BeautifulSoup(client.get(reverse("help")).content, "html.parser")
    links = page.select("#guides-telechargeables a")
    assert [a["href"] for a in links] == [reverse("help_document_download", args=[document.pk])]
    assert "Brouillon" not in page.get_text()

    response = client.get(reverse("help_document_download", args=[document.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'attachment; filename="guide-de-connexion-cps-et-e-cps.pdf"'
    assert b"".join(response.streaming_content) == PDF
    assert document.size == len(PDF)

    assert client.get(reverse("help_document_download", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("help_document_download", args=[999999])).status_code == 404


def test_the_stored_name_is_never_the_uploaded_one():
    document = make_document()
    assert document.file.name.startswith("guides/")
    assert document.file.name.endswith(".pdf")
    assert "guide" not in document.file.name.removeprefix("guides/")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (upload(name="guide.docx"), "Seuls les fichiers PDF"),
        (upload(name="guide.pdf", content=b"<html>not a pdf</html>", content_type="application/pdf"), "pas un PDF"),
        (upload(name="guide.pdf.exe", content=PDF), "Seuls les fichiers PDF"),
    ],
)
def test_only_real_pdfs_are_accepted(file, message):
    with pytest.raises(ValidationError, match=message):
        validators.validate_help_document(file)


def test_the_size_is_limited(monkeypatch):
    monkeypatch.setattr(validators, "HELP_DOCUMENT_MAX_BYTES", 10)
    with pytest.raises(ValidationError, match="la limite est de 0 Mo"):
        validators.validate_help_document(upload())


def test_spf_uploads_a_guide_in_the_admin_and_a_bad_file_is_refused_on_its_field(client):
    admin_user = factories.StaffUserFactory(is_superuser=True)
    login_agent(client, admin_user)
    add_url = reverse("admin:portal_helpdocument_add")
    refused = client.post(
        add_url,
        {
            "title": "Guide",
            "file": upload(name="guide.pdf", content=b"MZ\x90\x00"),
            "is_published": "on",
            "sort_order": 0,
        },
    )
    assert refused.status_code == 200
    assert "pas un PDF valide" in refused.content.decode()
    assert not HelpDocument.objects.exists()

    accepted = client.post(
        add_url, {"title": "Guide de saisie", "file": upload(), "is_published": "on", "sort_order": 1}
    )
    assert accepted.status_code == 302
    document = HelpDocument.objects.get()
    assert document.size == len(PDF)
    # Editing the title does not require uploading the file again.
    change = client.post(
        reverse("admin:portal_helpdocument_change", args=[document.pk]),
        {"title": "Guide de saisie (mars)", "is_published": "on", "sort_order": 1},
    )
    assert change.status_code == 302
    document.refresh_from_db()
    assert document.title == "Guide de saisie (mars)"
    assert document.size == len(PDF)
