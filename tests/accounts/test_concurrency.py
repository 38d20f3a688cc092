"""Races of the login, settled in PostgreSQL: real threads, each with its own connection, and a control test
that shows each race without its guard."""

from __future__ import annotations

import threading
import time

import pytest
from allauth.account.models import EmailAddress
from django.db import IntegrityError, close_old_connections, connection

from accounts import services
from accounts.models import Pharmacy, User
from tests import factories
from vaccine_orders.audit.actors import Actor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _in_threads(*targets):
    """Run the targets at the same instant, each on its own database connection; return results/errors."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    close_old_connections()
    return results


def _slow_account_lookup(monkeypatch):
    """Both logins look for the officine's account, find none, and only then create it."""
    real = services._account_of

    def look_then_wait(pharmacy):
        account = real(pharmacy)
        time.sleep(0.3)
        return account

    monkeypatch.setattr(services, "_account_of", look_then_wait)


def test_two_first_logins_at_once_share_one_account(monkeypatch):
    pharmacy = factories.PharmacyFactory()
    _slow_account_lookup(monkeypatch)
    actor = Actor.system("Test")

    results = _in_threads(
        lambda: services.pharmacy_account_get_or_create(pharmacy=pharmacy, actor=actor),
        lambda: services.pharmacy_account_get_or_create(pharmacy=pharmacy, actor=actor),
    )

    assert all(isinstance(r, User) for r in results), results
    assert results[0].pk == results[1].pk
    assert User.objects.filter(pharmacy=pharmacy).count() == 1


def test_control_without_settling_the_race_the_second_first_login_fails(monkeypatch):
    pharmacy = factories.PharmacyFactory()
    _slow_account_lookup(monkeypatch)

    def naive():
        if services._account_of(pharmacy) is None:
            return User.objects.create(
                username=f"officine-{pharmacy.finess}-{threading.get_ident()}", pharmacy=pharmacy
            )
        return None

    results = _in_threads(naive, naive)

    assert sum(isinstance(r, IntegrityError) for r in results) == 1  # the one-to-one constraint caught it
    assert User.objects.filter(pharmacy=pharmacy).count() == 1


def _slow_lock(monkeypatch, *, lock: bool):
    """Hold the officine for a moment after taking it, so that the two confirmations overlap."""
    real = services._lock_pharmacy

    def slow(pk):
        pharmacy = real(pk) if lock else Pharmacy.objects.get(pk=pk)
        time.sleep(0.3)
        return pharmacy

    monkeypatch.setattr(services, "_lock_pharmacy", slow)


def _officine():
    user = factories.PharmacyUserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user.pharmacy


def _confirm(pharmacy, email):
    return lambda: services.pharmacy_email_set(pharmacy=pharmacy, email=email, actor=Actor.system("Test"))


def test_two_confirmations_at_once_end_with_one_consistent_address(monkeypatch):
    pharmacy = _officine()
    _slow_lock(monkeypatch, lock=True)

    results = _in_threads(_confirm(pharmacy, "a@example.org"), _confirm(pharmacy, "b@example.org"))

    assert results == [None, None]
    pharmacy.refresh_from_db()
    user = pharmacy.account
    addresses = list(EmailAddress.objects.filter(user=user).values_list("email", "primary", "verified"))
    assert addresses == [(pharmacy.email, True, True)]
    assert user.email == pharmacy.email in ("a@example.org", "b@example.org")


def test_control_without_the_lock_the_second_confirmation_collides(monkeypatch):
    pharmacy = _officine()
    _slow_lock(monkeypatch, lock=False)

    results = _in_threads(_confirm(pharmacy, "a@example.org"), _confirm(pharmacy, "b@example.org"))

    assert sum(isinstance(r, services.AccountError) for r in results) == 1, results
