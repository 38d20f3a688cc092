"""In Debian's Chromium: the demo titulaire logs in with the (local, real) Pro Santé Connect, answers the
first-login e-mail dialog, lands on the home page, and the logout also ends the PSC session."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests import factories
from tests.psc import psc_browser_login
from vaccine_orders.demo import DEMO_PHARMACY_FINESS, DEMO_TITULAIRE_RPPS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CODE_RE = re.compile(r"\b([A-Z]{4}-[A-Z]{4})\b")


def test_the_demo_titulaire_logs_in_with_psc(page, live_server, psc):
    pharmacy = factories.PharmacyFactory(
        finess=DEMO_PHARMACY_FINESS, name="Pharmacie du Marché", email="", email_verified_at=None
    )
    factories.AuthorityFactory(pharmacy=pharmacy, rpps=DEMO_TITULAIRE_RPPS, first_name="Claire", last_name="MARTIN")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisissez une identité de démonstration")
    page.get_by_role("button", name=re.compile("Claire MARTIN – pharmacienne titulaire")).click()

    # First login: the dialog asks for the officine's address and proves it with a code.
    expect(page.get_by_role("heading", level=1)).to_have_text("Adresse e-mail de votre officine")
    page.get_by_label("Adresse e-mail de l'officine").fill("contact@pharmacie-du-marche.fr")
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérification de l'adresse e-mail")
    code = CODE_RE.search(mail.outbox[-1].body).group(1)
    page.get_by_label("Code de vérification").fill(code)
    page.get_by_role("button", name="Enregistrer").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(
        page.get_by_text("L'adresse e-mail de l'officine est désormais contact@pharmacie-du-marche.fr.")
    ).to_be_visible()
    page.get_by_role("link", name="Visualiser compte").click()
    expect(page.locator("#adresse-officine")).to_contain_text("contact@pharmacie-du-marche.fr")

    # Logout: the browser goes through PSC's end-session endpoint and comes back.
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fin de la session Pro Santé Connect")
    page.get_by_role("button", name="Terminer la session").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vous êtes déconnecté")


def test_the_helper_logs_the_demo_titulaire_in(page, live_server, psc):
    """What a journey test does first (tests.psc.psc_browser_login)."""
    pharmacy = factories.PharmacyFactory(finess=DEMO_PHARMACY_FINESS)  # address already verified
    factories.AuthorityFactory(pharmacy=pharmacy, rpps=DEMO_TITULAIRE_RPPS)

    psc_browser_login(page, live_server.url)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Visualiser compte")).to_be_visible()
