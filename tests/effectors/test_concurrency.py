"""Two officines attach the same doctor at the same instant: real parallel requests on PostgreSQL.

Each thread drives the real view through its own Django test client and its own database connection,
released together by a barrier; a sleep after the availability check widens the race window (pretix's
"sleep-after-quota-check"). The control tests remove the protections and show the race they prevent.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from effectors import services
from effectors.models import Attachment, Effector, EffectorType, Professional
from tests import factories

# serialized_rollback: the flush after each test would otherwise take the reference data of the migrations
# (departments, effector types) with it.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
WINDOW = 0.3


def race(identifier: str, users: list) -> list[tuple[int, str]]:
    clients = []
    for user in users:
        client = Client()
        client.force_login(user)
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def attach(client: Client) -> None:
        try:
            barrier.wait(timeout=10)
            response = client.post(reverse("effectors:attach"), {"identifiant": identifier})
            with lock:
                results.append((response.status_code, response.content.decode()))
        finally:
            connection.close()

    threads = [threading.Thread(target=attach, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(results, key=lambda r: r[0])


@pytest.fixture
def officines(db):
    return [factories.PharmacyUserFactory(pharmacy=factories.PharmacyFactory(city=city)) for city in ("Lyon", "Nice")]


@pytest.fixture
def slow_check(monkeypatch):
    monkeypatch.setattr(services, "_pause_after_check", lambda: time.sleep(WINDOW))


def test_exactly_one_officine_wins_and_the_other_is_told_already_attached(officines, slow_check):
    doctor = factories.ProfessionalFactory()
    results = race(doctor.rpps, officines)
    assert [status for status, _ in results] == [302, 409]
    assert "Déjà rattaché à une autre officine" in results[1][1]
    assert Attachment.objects.filter(detached_at__isnull=True).count() == 1
    assert Effector.objects.filter(professional=doctor).count() == 1


def test_five_officines_at_once_still_one_winner(slow_check):
    users = [factories.PharmacyUserFactory() for _ in range(5)]
    doctor = factories.ProfessionalFactory()
    results = race(doctor.rpps, users)
    assert [status for status, _ in results] == [302, 409, 409, 409, 409]
    assert Attachment.objects.filter(detached_at__isnull=True).count() == 1


def _no_lock(identifier: str):
    model, lookup = services._lookup_model(identifier)
    return model.objects.filter(**lookup).first()


def test_without_the_row_lock_the_unique_index_still_lets_only_one_win(officines, slow_check, monkeypatch):
    """The backstop: with the lock bypassed both requests pass the check, the partial unique index refuses
    the second insert, and its user still gets the named state (not an error page)."""
    doctor = factories.ProfessionalFactory()
    Effector.objects.create(professional=doctor, type=EffectorType.objects.get(code="doctor"))
    monkeypatch.setattr(services, "_lock_entry", _no_lock)
    results = race(doctor.rpps, officines)
    assert [status for status, _ in results] == [302, 409]
    assert Attachment.objects.filter(detached_at__isnull=True).count() == 1


def test_control_without_lock_and_unique_index_both_officines_win(officines, slow_check, monkeypatch):
    """Canary: with both protections removed the race really happens in this harness. If this test fails,
    the two tests above prove nothing."""
    doctor = factories.ProfessionalFactory()
    Effector.objects.create(professional=doctor, type=EffectorType.objects.get(code="doctor"))
    monkeypatch.setattr(services, "_lock_entry", _no_lock)
    constraint = next(c for c in Attachment._meta.constraints if c.name == "attachment_one_active_per_effector")
    with connection.schema_editor() as editor:
        editor.remove_constraint(Attachment, constraint)
    try:
        results = race(doctor.rpps, officines)
        assert [status for status, _ in results] == [302, 302]
        assert Attachment.objects.filter(detached_at__isnull=True, effector__professional=doctor).count() == 2
    finally:
        Attachment.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(Attachment, constraint)
    assert Professional.objects.filter(pk=doctor.pk).exists()
