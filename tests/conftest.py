"""Shared fixtures: the database rules (PostgreSQL-only tests), the cast of users, task running."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests import factories
from tests.psc import login_agent, psc, psc_server  # noqa: F401 - fixtures: a real PSC on loopback


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests are skipped on SQLite, and Redis-only tests without REDIS_URL, each with a reason.
    CI sets REQUIRE_POSTGRES=1 and REQUIRE_REDIS=1, so that the same situation is an error, not a silent skip."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    has_redis = bool(os.environ.get("REDIS_URL"))
    needs = {
        "postgres": (on_postgres, "REQUIRE_POSTGRES", "needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)"),
        "redis": (has_redis, "REQUIRE_REDIS", "needs Redis: set REDIS_URL=redis://… (CI does)"),
    }
    for marker, (available, requirement, reason) in needs.items():
        if available:
            continue
        marked = [item for item in items if item.get_closest_marker(marker)]
        if marked and os.environ.get(requirement) == "1":
            raise pytest.UsageError(f"{requirement}=1 but {len(marked)} test(s) marked `{marker}` cannot run here.")
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def run_tasks(settings):
    """Run Celery tasks in-process as they are enqueued (after commit, as in production)."""
    from vaccine_orders.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- the cast (healthchecks' alice / bob / charlie) -------------------------------------------------


@pytest.fixture
def pharmacy_a(db):
    return factories.PharmacyFactory(name="Pharmacie A")


@pytest.fixture
def pharmacy_b(db):
    return factories.PharmacyFactory(name="Pharmacie B")


@pytest.fixture
def user_a(pharmacy_a):
    return factories.PharmacyUserFactory(pharmacy=pharmacy_a)


@pytest.fixture
def user_b(pharmacy_b):
    return factories.PharmacyUserFactory(pharmacy=pharmacy_b)


@pytest.fixture
def client_a(client, user_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def client_b(client, user_b):
    client.force_login(user_b)
    return client


@pytest.fixture
def admin_client(db, admin_user):
    """pytest-django's admin client, logged in with the TOTP second factor the admin requires."""
    from django.test import Client

    return login_agent(Client(), admin_user)
