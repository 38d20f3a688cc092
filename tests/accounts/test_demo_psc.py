"""`make run` offers a local demo PSC: a real provider on loopback, its identities picked with one click."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import pytest
import requests
from bs4 import BeautifulSoup

from accounts.psc.devserver import start_demo_provider
from accounts.psc.identities import demo_identities
from vaccine_orders.demo import DEMO_PHARMACY_FINESS

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_the_demo_identities_cover_every_case():
    identities = {i.key: i for i in demo_identities()}
    assert list(identities) == ["titulaire", "cotitulaire", "adjoint", "medecin", "finess-inconnu"]
    assert len({i.sub for i in identities.values()}) == 5
    titulaire = identities["titulaire"].claims["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert titulaire["numeroFinessSite"] == DEMO_PHARMACY_FINESS and titulaire["codeRole"] == "FON-03"


def test_the_demo_provider_speaks_psc_and_lists_the_identities():
    port = _free_port()
    server = start_demo_provider(f"http://localhost:{port}")
    try:
        base = f"http://localhost:{port}"
        discovery = requests.get(f"{base}/.well-known/wallet-openid-configuration", timeout=5).json()
        assert discovery["issuer"] == base and discovery["end_session_endpoint"]
        query = urlencode(
            {
                "client_id": "demo",
                "redirect_uri": "http://127.0.0.1:8000/accounts/psc/login/callback/",
                "response_type": "code",
                "scope": "openid scope_all",
                "nonce": "n" * 32,
                "state": "s",
            }
        )
        page = BeautifulSoup(requests.get(f"{base}/oauth2/authorize?{query}", timeout=5).text, "html.parser")
        buttons = [b.strong.get_text(strip=True) for b in page.find_all("button", attrs={"name": "sub"})]
        assert buttons == [i.title for i in demo_identities()]
        assert page.html["lang"] == "fr"
    finally:
        server.shutdown()
        server.server_close()


def test_no_demo_provider_for_a_remote_psc():
    assert start_demo_provider("https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet") is None
