"""Rate limits on the POSTs that cost: the login pages, the e-mail codes, the support form, the orders. Beyond the
limit: HTTP 429, a French page, Retry-After, and nothing done."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests import factories
from tests.orders.conftest import build_session
from vaccine_orders.orders.models import Order
from vaccine_orders.portal.models import ServiceSettings, SupportRequest
from vaccine_orders.ratelimit import RATE_LIMITED_ROUTES, parse_rate

pytestmark = pytest.mark.django_db

FRENCH_429 = "Trop de demandes"


def assert_refused(response) -> None:
    assert response.status_code == 429, response.status_code
    body = response.content.decode()
    assert FRENCH_429 in body
    assert "réessayez" in body


def limit(settings, action: str, rate: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, action: rate}


# --- the rates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "parsed"), [("30/10m", (30, 600)), ("5/m", (5, 60)), ("100/h", (100, 3600)), ("2/30s", (2, 30))]
)
def test_rates_read_as_count_per_window(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "30", "30/", "x/m", "30/10y"])
def test_an_unreadable_rate_is_refused_with_its_value(rate):
    with pytest.raises(ValueError, match="illisible"):
        parse_rate(rate)


def test_every_configured_rate_is_readable(settings):
    for action, rate in settings.RATE_LIMITS.items():
        assert parse_rate(rate)[0] > 0, action
    assert {"order_entry", "order_validate", "order_cancel", "login_code", "email_code"} <= set(settings.RATE_LIMITS)
    assert set(RATE_LIMITED_ROUTES.values()) <= set(settings.RATE_LIMITS)


# --- login --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/login/", "/compte/connexion-agents/", "/accounts/psc/login/"])
def test_the_login_pages_answer_429_in_french_beyond_allauths_limit(client, settings, url):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    for _ in range(2):
        assert client.post(url, {"login": "agent@example.org", "password": "x"}).status_code != 429
    assert_refused(client.post(url, {"login": "agent@example.org", "password": "x"}))
    assert client.get(url).status_code == 200  # reading the page is not limited


# --- e-mail codes -------------------------------------------------------------------------------------------------


def test_the_code_login_is_limited_per_address(client, settings):
    ServiceSettings.objects.update_or_create(pk=1, defaults={"psc_unavailable": True})
    limit(settings, "login_code", "3/10m")
    for n in range(3):
        response = client.post("/accounts/login/code/", {"email": f"officine{n}@example.org"})
        assert response.status_code != 429
    assert_refused(client.post("/accounts/login/code/", {"email": "officine9@example.org"}))
    # Another address (another officine's connection) is not affected.
    other = client.post("/accounts/login/code/", {"email": "officine9@example.org"}, REMOTE_ADDR="198.51.100.20")
    assert other.status_code != 429


def test_the_officine_email_codes_are_limited_per_account(client_a, settings, user_b):
    limit(settings, "email_code", "2/10m")
    for n in range(2):
        response = client_a.post("/compte/adresse-email/modifier/", {"email": f"nouvelle{n}@example.org"})
        assert response.status_code == 302
    assert_refused(client_a.post("/compte/adresse-email/modifier/", {"email": "encore@example.org"}))
    assert_refused(client_a.post("/compte/adresse-email/verification/", {"code": "ABCD-EFGH"}))
    # Officine B, from the same address, is not affected: the limit is per account.
    client_a.force_login(user_b)
    assert client_a.post("/compte/adresse-email/modifier/", {"email": "b@example.org"}).status_code == 302


# --- the support form (the portal's limit, vaccine_orders.portal.antispam) -------------------------------------


def test_the_support_form_answers_429_in_french(client, settings):
    from vaccine_orders.portal.antispam import form_token_issue

    settings.SUPPORT_RATE_LIMIT_PER_IP = 1

    def data(email: str) -> dict:
        with time_machine.travel(timezone.now() - timedelta(seconds=30), tick=False):
            token = form_token_issue()
        return {
            "reason": "connexion_psc",
            "message": "La connexion échoue.",
            "name": "Claire Martin",
            "email": email,
            "finess": "",
            "phone": "",
            "error": "",
            "site_web": "",
            "jeton": token,
        }

    assert client.post("/support/", data("a@example.org")).status_code == 302
    response = client.post("/support/", data("b@example.org"))
    assert response.status_code == 429
    assert "trop de demandes" in response.content.decode()
    assert SupportRequest.objects.count() == 1


# --- orders -------------------------------------------------------------------------------------------------------


@pytest.fixture
def grid(pharmacy_a):
    return build_session(pharmacy_a)


def _submission(setup, quantity: int = 3, version: int = 0) -> dict:
    return {
        "version": str(version),
        "token": f"jeton-de-test-{quantity:04d}-0123",
        "action": "suivant",
        setup.key(setup.doctor, setup.janssen).field_name: str(quantity),
    }


def test_the_live_grid_posts_are_limited_but_not_its_display(client_a, settings, grid):
    limit(settings, "order_entry", "3/10m")
    url = f"/commandes/session/{grid.session.pk}/"
    for _ in range(3):
        assert client_a.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 200
    refused = client_a.post(url, _submission(grid), HTTP_HX_REQUEST="true")
    assert_refused(refused)
    assert 1 <= int(refused["Retry-After"]) <= 600
    for _ in range(5):
        assert client_a.get(url).status_code == 200


def test_validation_beyond_the_limit_registers_nothing(client_a, settings, grid):
    limit(settings, "order_validate", "2/10m")
    url = f"/commandes/session/{grid.session.pk}/valider/"
    assert client_a.post(url, _submission(grid, 3)).status_code == 302
    order = Order.objects.get()
    assert client_a.post(url, _submission(grid, 4, version=order.version)).status_code == 302
    order.refresh_from_db()
    assert_refused(client_a.post(url, _submission(grid, 5, version=order.version)))
    order.refresh_from_db()
    assert order.lines.get().quantity_requested == 4


def test_cancellation_beyond_the_limit_cancels_nothing(client_a, settings, pharmacy_a, grid):
    limit(settings, "order_cancel", "1/10m")
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=grid.session)
    url = f"/commandes/{order.reference}/annuler/"
    assert client_a.post(url, {"version": "99"}).status_code == 302  # a stale version: refused, but counted
    assert_refused(client_a.post(url, {"version": str(order.version)}))
    order.refresh_from_db()
    assert order.status == Order.Status.REGISTERED


def test_the_order_limits_are_per_officine(client, settings, user_a, user_b, pharmacy_b, grid):
    limit(settings, "order_entry", "1/10m")
    doctor_b = factories.attached_effector(pharmacy_b, "doctor")
    submission_b = {**_submission(grid), f"q-{doctor_b.pk}-{grid.janssen.pk}-0": "2"}
    submission_b.pop(grid.key(grid.doctor, grid.janssen).field_name)
    url = f"/commandes/session/{grid.session.pk}/"
    client.force_login(user_a)
    assert client.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 200
    assert client.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 429
    client.force_login(user_b)
    assert client.post(url, submission_b, HTTP_HX_REQUEST="true").status_code == 200


def test_a_new_window_lets_the_officine_post_again(client_a, settings, grid):
    limit(settings, "order_entry", "1/10m")
    url = f"/commandes/session/{grid.session.pk}/"
    start = timezone.now().replace(minute=0, second=5)
    with time_machine.travel(start, tick=False):
        assert client_a.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 200
        assert client_a.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 429
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert client_a.post(url, _submission(grid), HTTP_HX_REQUEST="true").status_code == 200
