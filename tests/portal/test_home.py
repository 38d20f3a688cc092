from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db


def test_home_is_french_dsfr_and_shows_the_open_session(client):
    session = factories.OrderSessionFactory()
    response = client.get("/")
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    assert soup.html["lang"] == "fr"
    assert soup.select_one("header.fr-header .fr-header__service-title").get_text(strip=True) == "Commande de vaccins"
    assert "Santé publique France" in soup.select_one(".fr-header__service-tagline").get_text()
    assert "Accessibilité" in soup.select_one("footer.fr-footer").get_text()
    assert "Session ouverte" in soup.get_text()
    closing = timezone.localtime(session.closes_at)
    assert f"{closing:%H}h{closing:%M}" in soup.get_text()


def test_home_shows_the_next_session_when_none_is_open(client):
    start = timezone.now() + timedelta(days=3)
    factories.OrderSessionFactory(opens_at=start, closes_at=start + timedelta(hours=39))
    response = client.get("/")
    assert "Prochaine session" in response.content.decode()


def test_pages_carry_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    soup = BeautifulSoup(response.content, "html.parser")
    for script in soup.find_all("script"):
        assert script.get("src"), "inline script found"
