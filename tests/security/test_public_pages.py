"""The accessibility statement (RGAA) and the personal data page: public, in French, linked from every page's footer,
and saying what the service really does (the durations come from the settings the nightly purge applies)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return " ".join(BeautifulSoup(response.content, "html.parser").get_text(" ").split())


@pytest.mark.parametrize(
    ("path", "as_officine"),
    [("/", False), ("/aide/", False), ("/accounts/login/", False), ("/", True), ("/commandes/", True)],
)
def test_every_page_links_both_pages_from_its_footer(client, user_a, path, as_officine):
    if as_officine:
        client.force_login(user_a)
    response = client.get(path)
    assert response.status_code == 200
    footer = BeautifulSoup(response.content, "html.parser").find("footer")
    links = {a.get_text(strip=True): a["href"] for a in footer.find_all("a")}
    assert links["Accessibilité : partiellement conforme"] == "/accessibilite/"
    assert links["Données personnelles"] == "/donnees-personnelles/"


def test_the_accessibility_statement_follows_the_rgaa_model(client):
    response = client.get("/accessibilite/")
    assert response.status_code == 200
    text = text_of(response)
    assert "Déclaration d'accessibilité" in text
    assert "partiellement conforme" in text
    assert "RGAA), version 4.1" in text
    assert "Contenus non accessibles" in text and "Non-conformités" in text
    assert "Dérogations pour charge disproportionnée" in text
    assert "Cette déclaration a été établie le 22 novembre 2026" in text
    assert "Retour d'information et contact" in text
    assert "Voies de recours" in text and "Défenseur des droits" in text
    assert "Libre réponse 71120, 75342 Paris CEDEX 07" in text
    soup = BeautifulSoup(response.content, "html.parser")
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert any(href.startswith("/support/?motif=autre") for href in hrefs)
    assert "https://formulaire.defenseurdesdroits.fr/" in hrefs


def test_the_personal_data_page_states_the_purges_durations(client, settings):
    text = text_of(client.get("/donnees-personnelles/"))
    assert "Journal des modifications (commandes, effecteurs, comptes, confirmations) 3 ans" in text
    assert "Journal des consultations et des connexions" in text and "1 an, puis supprimé" in text
    assert "Demandes de support et leurs messages 1 an après la réponse ou la clôture" in text
    assert "Jusqu'à 30 minutes d'inactivité" in text
    for heading in ("Qui voit vos données", "Vos droits", "Cookies", "Durées de conservation", "Données traitées"):
        assert heading in text
    assert settings.DATA_PROTECTION_EMAIL in text
    assert "CNIL" in text

    settings.AUDIT_RETENTION_DAYS = 5 * 365
    settings.SUPPORT_RETENTION_DAYS = 180
    text = text_of(client.get("/donnees-personnelles/"))
    assert "confirmations) 5 ans" in text
    assert "Demandes de support et leurs messages 180 jours après" in text


@pytest.mark.parametrize("path", ["/accessibilite/", "/donnees-personnelles/"])
def test_both_pages_are_public_and_answer_head(client, path):
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 405
