"""Real parallel requests against the live server on PostgreSQL: the national first-come-first-served stock
is never oversold, and a control test shows the oversell when the locking is switched off (so that the
harness is known to detect the race: pretix's "canary")."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from bs4 import BeautifulSoup
from django.db import connection
from django.db.models import Sum
from django.test import Client

from sessions_calendar.models import CapRule, ProductOffer
from tests import factories
from vaccine_orders.orders import services
from vaccine_orders.orders.caps import CellKey
from vaccine_orders.orders.models import Order, OrderLine

# serialized_rollback: the flush after a transactional test would otherwise drop the reference data that
# migrations load (regions, effector types) for the tests that follow.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHARMACIES = 200
STOCK_BOXES = 100
BOX = 10
CLIENT_THREADS = 25  # concurrent connections; PostgreSQL's max_connections is shared with the server side


def _setup():
    session = factories.OrderSessionFactory()
    moderna = factories.ProductFactory(code="moderna", short_name="Moderna")
    offer = ProductOffer.objects.create(
        session=session, product=moderna, national_stock=STOCK_BOXES * BOX, box_size=BOX
    )
    CapRule.objects.create(
        offer=offer, effector_type=factories.effector_type("occupational_doctor"), mode="per_effector", limit=BOX
    )
    clients = []
    for _ in range(PHARMACIES):
        user = factories.PharmacyUserFactory()
        doctor = factories.attached_effector(user.pharmacy, "occupational_doctor")
        django_client = Client()
        django_client.force_login(user)
        clients.append((django_client.cookies["sessionid"].value, CellKey(doctor.pk, moderna.pk, 0)))
    return session, offer, clients


def _prepare(base_url, session, session_cookie, key):
    """GET the grid like a browser: cookies, CSRF token and the form's hidden fields."""
    http = requests.Session()
    http.cookies.set("sessionid", session_cookie)
    page = http.get(f"{base_url}/commandes/session/{session.pk}/", timeout=30)
    page.raise_for_status()
    form = BeautifulSoup(page.text, "html.parser").select_one("#grille-commande")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data[key.field_name] = str(BOX)
    return http, data


def _rush(live_server, session, clients):
    prepared = [_prepare(live_server.url, session, cookie, key) for cookie, key in clients]
    start = threading.Event()

    def post(item):
        http, data = item
        start.wait()
        response = http.post(
            f"{live_server.url}/commandes/session/{session.pk}/valider/",
            data=data,
            headers={"Referer": live_server.url},
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [pool.submit(post, item) for item in prepared]
        start.set()
        return [f.result() for f in futures]


def test_200_concurrent_orders_take_exactly_the_100_boxes_in_stock(live_server):
    session, offer, clients = _setup()
    results = _rush(live_server, session, clients)

    accepted = [r for r in results if r[0] == 302]
    refused = [r for r in results if r[0] != 302]
    assert len(accepted) == STOCK_BOXES
    for status, body in refused:  # every refusal is a clean page saying what is left
        assert status == 200, body[:500]
        assert "le stock national est épuisé" in body
    offer.refresh_from_db()
    held = OrderLine.objects.filter(product=offer.product).aggregate(s=Sum("quantity_requested"))["s"]
    assert offer.stock_taken == held == STOCK_BOXES * BOX == offer.national_stock
    assert Order.objects.filter(status="registered").count() == STOCK_BOXES


def test_control_without_the_conditional_update_the_stock_is_oversold(live_server, monkeypatch):
    """If this fails, the test above proves nothing: the harness must be able to show the race."""
    monkeypatch.setattr(services, "STOCK_LOCKING", False)
    session, offer, clients = _setup()
    results = _rush(live_server, session, clients)
    held = OrderLine.objects.filter(product=offer.product).aggregate(s=Sum("quantity_requested"))["s"]
    assert sum(1 for status, _ in results if status == 302) > STOCK_BOXES
    assert held > offer.national_stock  # oversold: lost updates let more orders through than the stock


def test_a_lock_wait_that_times_out_is_a_503_retry_page_not_a_500(client):
    """Another transaction holds the officine's row: this request waits lock_timeout, then gets 503."""
    user = factories.PharmacyUserFactory()
    setup_session = factories.OrderSessionFactory()
    syringes = factories.ProductFactory(code="seringues", kind="medical_device", unit="box", doses_per_vial=None)
    offer = ProductOffer.objects.create(session=setup_session, product=syringes)
    CapRule.objects.create(offer=offer, effector_type=factories.effector_type("pharmacist"), mode="unlimited")
    own = factories.own_effector(user.pharmacy)
    client.force_login(user)

    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        from django.db import connections, transaction

        try:
            with transaction.atomic():
                connections["default"].cursor().execute(
                    "SELECT id FROM accounts_pharmacy WHERE id = %s FOR UPDATE", [user.pharmacy_id]
                )
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        response = client.post(
            f"/commandes/session/{setup_session.pk}/valider/",
            {
                "version": "0",
                "token": "jeton-attente-verrou-001",
                CellKey(own.pk, syringes.pk, 0).field_name: "2",
            },
        )
    finally:
        release.set()
        holder.join()
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "rien n'a été enregistré" in response.content.decode()
    assert not Order.objects.exists()
