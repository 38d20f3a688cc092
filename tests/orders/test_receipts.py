"""The receipt outbox: a validation publishes nothing per order; the sender claims the pending rows, sends
the receipt of each order's latest version once, and retries what failed."""

from __future__ import annotations

import smtplib
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError

from tests import factories
from tests.orders.conftest import build_session
from vaccine_orders.audit.actors import Actor
from vaccine_orders.orders import services
from vaccine_orders.orders.models import Order
from vaccine_orders.orders.services import order_cancel, order_submit, receipts_send_pending
from vaccine_orders.orders.tasks import send_pending_receipts

pytestmark = pytest.mark.django_db
ACTOR = Actor(user=None, label="Claire MARTIN – RPPS 10001045367 (Pro Santé Connect)")


def _submit(setup, pharmacy, quantity, *, version=0, token="jeton-accuse-0000001"):
    return order_submit(
        pharmacy=pharmacy,
        session=setup.session,
        quantities={setup.key(setup.own, setup.syringes): quantity},
        base_version=version,
        submission_token=token,
        actor=ACTOR,
    ).order


def _first_orders(setup, pharmacies, *, quantity):
    """Each officine registers its first order (syringes for itself); `setup` was built for the first one."""
    orders = []
    for pharmacy in pharmacies:
        own = setup.own if pharmacy == pharmacies[0] else factories.own_effector(pharmacy, "pharmacist")
        orders.append(
            order_submit(
                pharmacy=pharmacy,
                session=setup.session,
                quantities={setup.key(own, setup.syringes): quantity},
                base_version=0,
                submission_token=f"jeton-{pharmacy.pk}-000000001",
                actor=ACTOR,
            ).order
        )
    return orders


def _pending():
    return list(Order.objects.filter(receipt_version__lt=F("version")).values_list("pk", flat=True))


@pytest.fixture
def wakes(monkeypatch):
    """Counts the wake-ups published to the broker; a wake-up window longer than any test."""
    published = []
    monkeypatch.setattr(send_pending_receipts, "delay", lambda: published.append(1))
    monkeypatch.setattr(services, "_last_wake", float("-inf"))
    monkeypatch.setattr(services, "RECEIPT_WAKE_INTERVAL_SECONDS", 3600)
    return published


def test_orders_wake_the_sender_once_and_the_sender_sends_each_receipt(
    wakes, mailoutbox, django_capture_on_commit_callbacks
):
    pharmacies = [factories.PharmacyFactory() for _ in range(3)]
    setup = build_session(pharmacies[0])
    with django_capture_on_commit_callbacks(execute=True):
        orders = _first_orders(setup, pharmacies, quantity=2)
    assert len(wakes) == 1  # one broker message for the three orders, not three
    assert mailoutbox == [] and sorted(_pending()) == sorted(o.pk for o in orders)

    assert receipts_send_pending() == 3
    assert sorted(m.to[0] for m in mailoutbox) == sorted(p.email for p in pharmacies)
    assert all("enregistrée" in m.subject for m in mailoutbox)
    assert _pending() == [] and receipts_send_pending() == 0  # nothing twice
    assert set(Order.objects.values_list("receipt_version", "receipt_claimed_at")) == {(1, None)}


def test_an_order_changed_before_its_receipt_gets_one_receipt_for_its_latest_version(wakes, mailoutbox, pharmacy_a):
    setup = build_session(pharmacy_a)
    _submit(setup, pharmacy_a, 2)
    order = _submit(setup, pharmacy_a, 7, version=1, token="jeton-accuse-0000002")
    assert receipts_send_pending() == 1
    assert len(mailoutbox) == 1 and "7 boîtes" in mailoutbox[0].body
    assert Order.objects.get(pk=order.pk).receipt_version == 2

    order_cancel(order=order, base_version=2, actor=ACTOR)  # a new version: a new receipt, "annulée"
    assert receipts_send_pending() == 1
    assert "annulée" in mailoutbox[1].subject


def test_a_failed_send_keeps_its_claim_and_is_sent_again_after_the_retry_delay(
    wakes, mailoutbox, pharmacy_a, monkeypatch, settings
):
    setup = build_session(pharmacy_a)
    order = _submit(setup, pharmacy_a, 2)
    real_send = services.send_receipt

    def refused(**kwargs):
        raise smtplib.SMTPRecipientsRefused({pharmacy_a.email: (450, b"try later")})

    monkeypatch.setattr(services, "send_receipt", refused)
    assert receipts_send_pending() == 0
    claimed = Order.objects.get(pk=order.pk)
    assert claimed.receipt_version == 0 and claimed.receipt_claimed_at is not None

    monkeypatch.setattr(services, "send_receipt", real_send)
    assert receipts_send_pending() == 0 and mailoutbox == []  # the claim holds until the retry delay
    Order.objects.filter(pk=order.pk).update(
        receipt_claimed_at=timezone.now() - timedelta(seconds=settings.ORDERS_RECEIPT_RETRY_SECONDS + 1)
    )
    assert receipts_send_pending() == 1 and len(mailoutbox) == 1


def test_a_mailbox_refused_for_good_is_not_retried(wakes, mailoutbox, pharmacy_a, monkeypatch):
    setup = build_session(pharmacy_a)
    order = _submit(setup, pharmacy_a, 2)

    def unknown_mailbox(**kwargs):
        raise smtplib.SMTPRecipientsRefused({pharmacy_a.email: (550, b"5.1.1 unknown mailbox")})

    monkeypatch.setattr(services, "send_receipt", unknown_mailbox)
    assert receipts_send_pending() == 0
    assert Order.objects.filter(pk=order.pk, receipt_version=1, receipt_claimed_at__isnull=True).exists()
    assert _pending() == []


def test_an_unreachable_relay_releases_the_batch_for_the_next_sweep(wakes, mailoutbox, pharmacy_a, monkeypatch):
    setup = build_session(pharmacy_a)
    order = _submit(setup, pharmacy_a, 2)

    class Unreachable:
        def __enter__(self):
            raise ConnectionRefusedError("relais injoignable")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(services, "get_connection", Unreachable)
    assert receipts_send_pending() == 0
    assert Order.objects.filter(pk=order.pk, receipt_version=0, receipt_claimed_at__isnull=True).exists()
    monkeypatch.undo()
    assert receipts_send_pending() == 1 and len(mailoutbox) == 1


def test_an_officine_without_an_address_is_not_retried_forever(wakes, mailoutbox):
    pharmacy = factories.PharmacyFactory(email="")
    setup = build_session(pharmacy)
    _submit(setup, pharmacy, 2)
    assert receipts_send_pending() == 0 and mailoutbox == []
    assert _pending() == []


def test_an_unreachable_broker_at_the_commit_does_not_fail_the_validation(client_a, user_a, monkeypatch):
    from vaccine_orders.orders.caps import CellKey

    def broker_down():
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(send_pending_receipts, "delay", broker_down)
    monkeypatch.setattr(services, "_last_wake", float("-inf"))
    setup = build_session(user_a.pharmacy)
    response = client_a.post(
        f"/commandes/session/{setup.session.pk}/valider/",
        {"version": "0", "token": "jeton-broker-0000001", CellKey(setup.own.pk, setup.syringes.pk, 0).field_name: "2"},
    )
    assert response.status_code == 302
    order = Order.objects.get(pharmacy=user_a.pharmacy)
    assert order.receipt_version < order.version  # pending: the minute sweep sends it


def test_the_minute_sweep_is_scheduled_and_its_task_registered(settings):
    from vaccine_orders.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["orders-receipts-sweep"]
    assert entry["task"] == send_pending_receipts.name and entry["task"] in app.tasks


def test_with_tasks_run_at_once_the_receipt_goes_with_the_commit(
    mailoutbox, pharmacy_a, run_tasks, django_capture_on_commit_callbacks
):
    setup = build_session(pharmacy_a)
    with django_capture_on_commit_callbacks(execute=True):
        order = _submit(setup, pharmacy_a, 2)
    assert len(mailoutbox) == 1 and order.reference in mailoutbox[0].subject


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_senders_at_once_send_each_receipt_exactly_once(wakes):
    pharmacies = [factories.PharmacyFactory() for _ in range(40)]
    setup = build_session(pharmacies[0])
    _first_orders(setup, pharmacies, quantity=1)
    mail.outbox = []
    start = threading.Barrier(2)
    counts = []

    def sender():
        try:
            start.wait(10)
            counts.append(receipts_send_pending(batch_size=5))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    recipients = [m.to[0] for m in mail.outbox]
    assert sum(counts) == 40 and len(recipients) == 40
    assert sorted(recipients) == sorted(p.email for p in pharmacies)  # each once
    assert _pending() == []
