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


def _two_tabs_at_once(monkeypatch) -> tuple[object, object]:
    """Tab A registers the officine's first order and is held just before its commit; tab B submits its own
    first order meanwhile and waits; A commits, then B goes on. Returns what each tab got."""
    from django.db import connections

    from vaccine_orders.audit.actors import Actor

    user = factories.PharmacyUserFactory()
    session = factories.OrderSessionFactory()
    syringes = factories.ProductFactory(code="seringues", kind="medical_device", unit="box", doses_per_vial=None)
    offer = ProductOffer.objects.create(session=session, product=syringes)
    CapRule.objects.create(offer=offer, effector_type=factories.effector_type("pharmacist"), mode="unlimited")
    key = CellKey(factories.own_effector(user.pharmacy).pk, syringes.pk, 0)

    a_written, release_a = threading.Event(), threading.Event()
    real_audit = services.audit_record

    def audit_then_hold(**kwargs):
        real_audit(**kwargs)
        if threading.current_thread().name == "tab-a":
            a_written.set()
            release_a.wait(20)

    monkeypatch.setattr(services, "audit_record", audit_then_hold)
    outcomes: dict[str, object] = {}

    def tab(name: str, quantity: int) -> None:
        try:
            outcomes[name] = services.order_submit(
                pharmacy=user.pharmacy,
                session=session,
                quantities={key: quantity},
                base_version=0,
                submission_token=f"jeton-{name}-0000000001",
                actor=Actor(user=None, label=name),
            )
        except Exception as exc:  # what the tab got is the result under test
            outcomes[name] = exc
        finally:
            connections.close_all()

    tab_a = threading.Thread(target=tab, args=("tab-a", 3), name="tab-a")
    tab_b = threading.Thread(target=tab, args=("tab-b", 5), name="tab-b")
    tab_a.start()
    try:
        assert a_written.wait(10)
        tab_b.start()
        # B is blocked in PostgreSQL (on the officine's row, or on the unique order without the lock).
        for _ in range(200):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
            threading.Event().wait(0.05)
        else:
            pytest.fail("tab B never waited for tab A")
    finally:
        release_a.set()
        tab_a.join(20)
        if tab_b.ident:
            tab_b.join(20)
    return outcomes.get("tab-a"), outcomes.get("tab-b")


def test_two_tabs_registering_at_once_the_second_gets_the_conflict_and_one_order_exists(monkeypatch):
    first, second = _two_tabs_at_once(monkeypatch)
    assert isinstance(first, services.SubmitResult) and first.created
    # B read the order A had just committed after the lock was granted: a conflict, not a database error.
    assert isinstance(second, services.OrderError), repr(second)
    assert second.code == "conflict" and second.order.pk == first.order.pk
    assert Order.objects.count() == 1
    assert OrderLine.objects.get().quantity_requested == 3


def test_control_without_the_officine_lock_the_second_tab_fails_on_the_unique_order(monkeypatch):
    """If this fails, the test above proves nothing: without the lock, B reads "no order" before A commits."""
    from django.db import IntegrityError

    monkeypatch.setattr(services, "_lock_pharmacy", lambda pharmacy: None)
    first, second = _two_tabs_at_once(monkeypatch)
    assert isinstance(first, services.SubmitResult) and first.created
    assert isinstance(second, IntegrityError), repr(second)
    assert Order.objects.count() == 1
