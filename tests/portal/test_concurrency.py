"""Races of the support desk, with real parallel transactions on PostgreSQL, each with its control test
that shows what happens without the claim or the lock."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.core import mail
from django.db import connection

from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.portal import services
from vaccine_orders.portal.models import SupportRequest

# serialized_rollback: the flush after these tests would otherwise drop the reference data (regions,
# effector types, groups) that the tests after them rely on.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def run_in_threads(*targets):
    errors = []

    def wrap(target):
        def run():
            try:
                target()
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(target), name=f"t{i}") for i, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors


def slow_send(original):
    def send(**kwargs):
        time.sleep(0.3)  # both workers are inside the sending step at once
        original(**kwargs)

    return send


def test_two_workers_running_the_same_acknowledgement_send_one_email():
    support_request = factories.SupportRequestFactory()
    barrier = threading.Barrier(2)
    results = []

    def worker():
        barrier.wait()
        results.append(services.support_acknowledgement_send(support_request_id=support_request.pk))

    with mock.patch.object(services, "_send", slow_send(services._send)):
        run_in_threads(worker, worker)
    assert sorted(results) == [False, True]
    assert len(mail.outbox) == 1


def test_control_without_the_claim_both_workers_send_it():
    """What the conditional UPDATE prevents: check, send, then mark lets both workers send."""
    support_request = factories.SupportRequestFactory()
    barrier = threading.Barrier(2)

    def naive_worker():
        barrier.wait()
        current = SupportRequest.objects.get(pk=support_request.pk)
        if current.acknowledged_at is None:
            slow_send(services._send)(
                to=current.email,
                subject="Accusé",
                template="support_acknowledgement",
                context={"support_request": current},
            )
            SupportRequest.objects.filter(pk=current.pk).update(acknowledged_at=current.created_at)

    run_in_threads(naive_worker, naive_worker)
    assert len(mail.outbox) == 2


def _interleaved(locked_read):
    """Agent 1 escalates (slowly, between reading and writing); agent 2 closes meanwhile."""
    support_request = factories.SupportRequestFactory()
    first_has_read = threading.Event()

    def read(target):
        current = locked_read(target)
        if threading.current_thread().name == "t0":
            first_has_read.set()
            time.sleep(0.5)
        return current

    def escalate():
        services.support_request_set_status(
            support_request=SupportRequest.objects.get(pk=support_request.pk),
            actor=Actor.system("Agent 1"),
            status=SupportRequest.Status.ESCALATED,
        )

    def close():
        first_has_read.wait(5)
        services.support_request_set_status(
            support_request=SupportRequest.objects.get(pk=support_request.pk),
            actor=Actor.system("Agent 2"),
            status=SupportRequest.Status.CLOSED,
        )

    with mock.patch.object(services, "_locked", read):
        run_in_threads(escalate, close)
    return SupportRequest.objects.get(pk=support_request.pk)


def test_concurrent_actions_on_a_request_are_serialized_by_the_row_lock():
    final = _interleaved(services._locked)
    # The close waited for the escalation and applied on top of it: nothing lost.
    assert final.status == SupportRequest.Status.CLOSED
    assert final.closed_at is not None


def test_control_without_the_row_lock_the_close_is_silently_lost():
    final = _interleaved(lambda target: SupportRequest.objects.get(pk=target.pk))
    assert final.status == SupportRequest.Status.ESCALATED  # agent 2 was told "closed"; it is not
