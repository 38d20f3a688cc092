"""The pharmacist's journey in Debian's Chromium: log in through the demo PSC, Saisie de commande →
Créer → quantities (live cap message with htmx) → Suivant → Valider → registered → Modifier → change a
quantity → Valider → history; and once the window closes, the order is read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sessions_calendar.models import OrderSession
from tests import factories
from tests.orders.conftest import build_session
from tests.psc import psc_browser_login
from vaccine_orders.demo import DEMO_PHARMACY_FINESS, DEMO_TITULAIRE_RPPS
from vaccine_orders.orders.models import Order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_create_modify_and_read_only_after_close(page, live_server, psc):
    pharmacy = factories.PharmacyFactory(finess=DEMO_PHARMACY_FINESS, name="Pharmacie du Marché")
    factories.AuthorityFactory(pharmacy=pharmacy, rpps=DEMO_TITULAIRE_RPPS, first_name="Claire", last_name="MARTIN")
    setup = build_session(pharmacy)
    doctor_cell = "#" + setup.key(setup.doctor, setup.az, 1).field_name
    syringes_cell = "#" + setup.key(setup.own, setup.syringes).field_name

    psc_browser_login(page, live_server.url)
    page.get_by_role("link", name="Saisie de commande").first.click()
    page.get_by_role("link", name="Créer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer la commande")
    expect(page.get_by_role("button", name="Tout développer")).to_be_visible()  # JS enhancement loaded

    # Over the cap: htmx shows the message as you type, before any submission.
    page.locator(doctor_cell).fill("7")
    expect(page.locator(f"#erreurs-{doctor_cell[1:]}")).to_contain_text("Plafond dépassé")
    page.locator(doctor_cell).fill("4")
    expect(page.locator(f"#erreurs-{doctor_cell[1:]}")).to_be_empty()
    page.locator(syringes_cell).fill("2")
    page.get_by_role("button", name="Suivant").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif de la commande")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#etat-commande")).to_have_text("Commande enregistrée")
    order = Order.objects.get()
    assert order.version == 1 and order.updated_by_label.startswith("Claire MARTIN")

    # Modifier → change a quantity → Suivant → Valider → history shows the change and who made it.
    page.get_by_role("link", name="Modifier").click()
    expect(page.locator(doctor_cell)).to_have_value("4")
    page.locator(doctor_cell).fill("5")
    page.get_by_role("button", name="Suivant").click()
    expect(page.get_by_text("Modifications par rapport à la commande enregistrée")).to_be_visible()
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#etat-commande")).to_have_text("Commande enregistrée")
    history = page.locator("#historique + section")
    expect(history).to_contain_text("4 → 5")
    expect(history).to_contain_text("Claire MARTIN")

    # The window closes: the order becomes read-only.
    OrderSession.objects.filter(pk=setup.session.pk).update(
        opens_at=timezone.now() - timedelta(days=2), closes_at=timezone.now() - timedelta(seconds=1)
    )
    page.reload()
    expect(page.get_by_text("Lecture seule")).to_be_visible()
    expect(page.get_by_role("link", name="Modifier")).to_have_count(0)
    page.goto(f"{live_server.url}/commandes/session/{setup.session.pk}/")
    expect(page.get_by_text("Commande impossible")).to_be_visible()
    assert Order.objects.get().lines.get(effector=setup.doctor).quantity_requested == 5
