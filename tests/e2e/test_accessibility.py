"""Accessibility in Debian's Chromium: axe-core on every page a pharmacist or an ARS agent can open (read from the
authorization matrix, so a new page is checked as soon as it has its entry there), with zero serious or critical
violation; and the whole order entry done with the keyboard alone.

axe-core comes from npm (tests/e2e/package-lock.json, installed by scripts/bootstrap.sh with WITH_BROWSER=1). It is
injected through the browser's init script, which the Content-Security-Policy does not apply to; the policy stays on
for the pages themselves, and any violation of it reported by the browser fails the test too.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.psc import login_agent, psc_browser_login
from tests.security.matrix import MATRIX, build_url, cases_of
from tests.security.world import ARS_X, PHARMACY_A, ROLES, build_world
from vaccine_orders.orders.models import Order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""
BLOCKING = ("serious", "critical")


def pages_of(role: str, world, *, only_restricted: bool = False) -> list[str]:
    """Every GET page of the matrix that `role` opens (200); with `only_restricted`, not the pages everybody
    opens."""
    urls = []
    for key in sorted(MATRIX):
        for case in cases_of(key):
            expected = case.expected[role]
            if case.method != "GET" or not isinstance(expected, int) or expected != 200:
                continue
            if only_restricted and all(case.expected[other] == 200 for other in ROLES):
                continue
            url = build_url(key, case, world)
            if case.query:
                url += "?" + urlencode(case.query(world), doseq=True)
            urls.append(url)
    return list(dict.fromkeys(urls))


class Audit:
    """axe-core on page after page, and the browser's own reports of a blocked inline script or style."""

    def __init__(self, page, base_url: str, axe_source: str) -> None:
        self.page, self.base_url = page, base_url
        self.problems: list[str] = []
        self.checked: list[str] = []
        page.context.add_init_script(script=axe_source)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"{self.page.url}: CSP: {message.text[:200]}")

    def is_html(self, url: str) -> bool:
        response = self.page.request.get(self.base_url + url, max_redirects=0)
        return response.status == 200 and response.headers.get("content-type", "").startswith("text/html")

    def check(self, label: str) -> None:
        self.page.wait_for_load_state("load")
        for violation in self.page.evaluate(AXE_RUN):
            if violation["impact"] in BLOCKING:
                self.problems.append(
                    f"{label}: [{violation['impact']}] {violation['id']} – {violation['help']} – {violation['nodes']}"
                )
        self.checked.append(label)

    def visit(self, url: str) -> None:
        if not self.is_html(url):
            return
        self.page.goto(self.base_url + url)
        self.check(url)


def test_every_pharmacist_page_has_no_serious_or_critical_violation(page, live_server, psc, axe_source):
    world = build_world(demo_titulaire=True)
    audit = Audit(page, live_server.url, axe_source)
    psc_browser_login(page, live_server.url)
    expect(page.get_by_role("link", name="Saisie de commande").first).to_be_visible()

    for url in pages_of(PHARMACY_A, world):
        audit.visit(url)

    # The recap: after "Suivant" on the grid (a POST, so not in the list above).
    page.goto(f"{live_server.url}/commandes/session/{world.open_session.pk}/")
    page.locator("input.cv-qty").first.fill("1")
    page.get_by_role("button", name="Suivant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif de la commande")
    audit.check("récapitulatif")

    for expected in (
        "/",
        "/commandes/saisie/",
        "/commandes/",
        "/commandes/historique/",
        "/effecteurs/",
        "/suivi/",
        "/calendrier/",
        "/aide/",
        "/actualites/",
        "/support/",
        "/support/mes-demandes/",
        "/compte/",
        "/accessibilite/",
        "/donnees-personnelles/",
        f"/commandes/{world.order_a.reference}/",
        f"/commandes/session/{world.open_session.pk}/",
        f"/suivi/{world.past_order_a.reference}/",
    ):
        assert expected in audit.checked, f"{expected} was not checked"
    assert len(audit.checked) >= 30
    assert not audit.problems, "\n".join(audit.problems)


def test_every_ars_page_has_no_serious_or_critical_violation(page, live_server, axe_source):
    world = build_world()
    client = login_agent(Client(), world.users[ARS_X])
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    audit = Audit(page, live_server.url, axe_source)
    audit.visit("/")
    for url in pages_of(ARS_X, world, only_restricted=True):
        audit.visit(url)
    assert any(url.startswith("/rapports/") for url in audit.checked), audit.checked
    assert {"/rapports/", "/rapports/requisition/", "/rapports/quotidiens/"} <= {u.split("?")[0] for u in audit.checked}
    assert not audit.problems, "\n".join(audit.problems)


def test_the_detector_reports_a_serious_violation(page, live_server, axe_source):
    """The control: a page with an image without alternative and an unlabelled field is reported."""
    audit = Audit(page, live_server.url, axe_source)
    page.goto(live_server.url + "/aide/")
    page.evaluate(
        """() => { const main = document.querySelector("main");
                   main.insertAdjacentHTML("beforeend", '<img src="/static/x.png"><input type="text">'); }"""
    )
    audit.check("aide, abîmée exprès")
    assert any("image-alt" in problem for problem in audit.problems), audit.problems
    assert any("label" in problem for problem in audit.problems), audit.problems


# --- the keyboard alone -------------------------------------------------------------------------------------------


def tab_to(page, predicate_js: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies `predicate_js` (a JS expression over `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({predicate_js}); }}"):
            return
    raise AssertionError(f"never reached with Tab: {predicate_js}")


def test_an_order_is_entered_and_validated_with_the_keyboard_alone(page, live_server, psc, axe_source):
    from tests import factories
    from tests.orders.conftest import build_session
    from vaccine_orders.demo import DEMO_PHARMACY_FINESS, DEMO_TITULAIRE_RPPS

    pharmacy = factories.PharmacyFactory(finess=DEMO_PHARMACY_FINESS, name="Pharmacie du Marché")
    factories.AuthorityFactory(pharmacy=pharmacy, rpps=DEMO_TITULAIRE_RPPS, first_name="Claire", last_name="MARTIN")
    setup = build_session(pharmacy)
    doctor = setup.key(setup.doctor, setup.az, 1).field_name
    syringes = setup.key(setup.own, setup.syringes).field_name

    psc_browser_login(page, live_server.url)
    # From the home page to the grid, links followed with Enter.
    tab_to(page, "el.textContent.trim() === 'Saisie de commande'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Saisie de commande")
    tab_to(page, "el.textContent.trim() === 'Créer'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer la commande")

    # Tab to each quantity, type it.
    tab_to(page, f"el.id === '{doctor}'")
    page.keyboard.type("4")
    tab_to(page, f"el.id === '{syringes}'")
    page.keyboard.type("2")
    # "Suivant" with Enter.
    tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Suivant'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Récapitulatif de la commande")

    # "Valider" with Space.
    tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Valider'")
    page.keyboard.press(" ")
    expect(page.locator("#etat-commande")).to_have_text("Commande enregistrée")

    order = Order.objects.get(pharmacy=pharmacy)
    quantities = {(line.effector_id, line.product_id): line.quantity_requested for line in order.lines.all()}
    assert quantities == {(setup.doctor.pk, setup.az.pk): 4, (setup.own.pk, setup.syringes.pk): 2}
    assert re.fullmatch(r"/commandes/[^/]+/", page.url.removeprefix(live_server.url))
