"""Races that matter, with real threads on PostgreSQL, each beside a control test that shows the race
when the guard is removed (pretix's concurrency tests):

- a bulk "confirmer comme commandé" running while an agent reduces a line must not overwrite the reduction;
- two workers handed the same mailing batch must not both send a message;
- two publication runs at once (a doubled beat tick) publish a session once.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import F

from fulfilment.models import OutboxMessage
from fulfilment.selectors import publication_instant
from fulfilment.services import confirmation as confirmation_services
from fulfilment.services import (
    line_confirm,
    lines_confirm_as_ordered,
    mailing_prepare,
    outbox_send_batch,
    sessions_publish_due,
)
from tests import factories
from tests.fulfilment.conftest import build_cast, line_of, make_session
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import OrderLine

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ACTOR = Actor.system("Test de concurrence")


def _run(*targets) -> list[BaseException]:
    """Run each callable in its own thread (own database connection); return the errors raised."""
    errors: list[BaseException] = []

    def wrap(target):
        def run():
            try:
                target()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t), name=f"t{i}") for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


# --- bulk confirmation vs a reduction ------------------------------------------------------------------------


@pytest.fixture
def reduction_race(monkeypatch):
    """Thread "reducer" reduces the EHPAD line and, holding its row lock, waits before committing."""
    pharmacy = factories.PharmacyFactory()
    cast = build_cast(pharmacy, make_session("closed"))
    line = line_of(cast, cast.ehpad)
    written = threading.Event()
    real_audit = confirmation_services.audit_record

    def slow_audit(**kwargs):
        event = real_audit(**kwargs)
        if threading.current_thread().name == "t0":
            written.set()
            time.sleep(0.5)  # still inside the transaction: the row stays locked, the write uncommitted
        return event

    monkeypatch.setattr(confirmation_services, "audit_record", slow_audit)

    def reduce():
        line_confirm(line_id=line.pk, quantity=5, reason="Stock limité", actor=ACTOR)

    return cast, line, written, reduce


def test_bulk_confirmation_never_overwrites_a_concurrent_reduction(reduction_race):
    cast, line, written, reduce = reduction_race

    def bulk():
        assert written.wait(5)
        lines_confirm_as_ordered(session=cast.session, actor=ACTOR)

    assert _run(reduce, bulk) == []
    line.refresh_from_db()
    assert (line.quantity_confirmed, line.reduction_reason) == (5, "Stock limité")
    assert not OrderLine.objects.filter(order=cast.order, quantity_confirmed__isnull=True).exists()


def test_control_without_lock_and_condition_the_reduction_is_lost(reduction_race):
    cast, line, written, reduce = reduction_race

    def naive_bulk():
        # Check then act: read the unconfirmed lines, then write them by id, no lock, no condition.
        assert written.wait(5)
        with transaction.atomic():
            ids = list(
                OrderLine.objects.filter(order__session=cast.session, quantity_confirmed__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            time.sleep(0.8)  # the reduction commits meanwhile
            OrderLine.objects.filter(pk__in=ids).update(quantity_confirmed=F("quantity_requested"), reduction_reason="")

    assert _run(reduce, naive_bulk) == []
    line.refresh_from_db()
    assert line.quantity_confirmed == line.quantity_requested == 30  # the agent's reduction was overwritten


# --- two workers, one batch -------------------------------------------------------------------------------


class RecordingBackend:
    """Collects recipients from every thread, slowly enough for the two workers to overlap."""

    sent: list[str] = []
    lock = threading.Lock()

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        time.sleep(0.02)
        with self.lock:
            self.sent.extend(m.to[0] for m in messages)
        return len(messages)


@pytest.fixture
def queued_batch(settings):
    settings.EMAIL_BACKEND = "tests.fulfilment.test_concurrency.RecordingBackend"
    RecordingBackend.sent = []
    pharmacy = factories.PharmacyFactory()
    cast = build_cast(pharmacy, make_session("published"))
    cast.doctor_no_email.professional.email = "autre.medecin@example.org"
    cast.doctor_no_email.professional.save()
    lines_confirm_as_ordered(session=cast.session, actor=ACTOR)
    mailing_prepare(session=cast.session, actor=ACTOR)
    OutboxMessage.objects.update(status=OutboxMessage.Status.QUEUED)
    return list(OutboxMessage.objects.values_list("pk", flat=True))


def test_two_workers_with_the_same_batch_send_each_message_once(queued_batch):
    start = threading.Barrier(2)

    def worker():
        start.wait(5)
        outbox_send_batch(message_ids=queued_batch)

    assert _run(worker, worker) == []
    assert len(queued_batch) == 4
    assert sorted(RecordingBackend.sent) == sorted(set(RecordingBackend.sent))
    assert len(RecordingBackend.sent) == 4
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}


def test_control_claiming_by_read_then_write_sends_twice(queued_batch):
    from django.core.mail import get_connection
    from django.utils import timezone

    from fulfilment.services.mailing import build_message

    both_read = threading.Barrier(2)

    def naive_worker():
        rows = list(
            OutboxMessage.objects.filter(pk__in=queued_batch, status=OutboxMessage.Status.QUEUED).select_related(
                "session", "pharmacy__department", "professional"
            )
        )
        both_read.wait(5)
        OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(status=OutboxMessage.Status.SENDING)
        smtp = get_connection()
        for row in rows:
            smtp.send_messages([build_message(row, at=timezone.now())])

    assert _run(naive_worker, naive_worker) == []
    assert len(RecordingBackend.sent) == 2 * len(queued_batch)  # every recipient got the message twice


# --- a doubled publication tick ----------------------------------------------------------------------------


def test_two_publication_runs_at_once_publish_the_session_once():
    session = make_session("published")
    pharmacy = factories.PharmacyFactory()
    build_cast(pharmacy, session)
    start = threading.Barrier(2)
    results: list[list[int]] = []
    at = publication_instant(session=session)

    def publish():
        start.wait(5)
        results.append(sessions_publish_due(at=at, actor=ACTOR))

    assert _run(publish, publish) == []
    assert sorted(len(r) for r in results) == [0, 1]
    assert AuditEvent.objects.filter(action="fulfilment.confirmations_published").count() == 1
