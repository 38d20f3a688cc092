"""/healthz: each dependency reported separately (database, Redis, Celery workers, beat), 200 only when all are up,
503 otherwise; public, and revealing nothing about the infrastructure."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connections
from django.utils import timezone

from vaccine_orders import health
from vaccine_orders.portal.models import ScheduledJobRun

pytestmark = pytest.mark.django_db

REDIS_DB = 13  # this module's Redis database
WORKER_REDIS_DB = 15  # the real worker's (its heartbeat, its broker)


def closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_url(settings, db: int) -> str:
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL=redis://… (CI does)")
    return urlunsplit(urlsplit(settings.TEST_REDIS_URL)._replace(path=f"/{db}"))


@pytest.fixture
def redis_up(settings):
    """A real Redis (database 13), emptied before and after."""
    import redis

    settings.REDIS_URL = redis_url(settings, REDIS_DB)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def unreachable_database(db, settings):
    """A database alias pointing at a closed port, read by /healthz instead of the default one."""
    alias = "injoignable"
    connections.settings[alias] = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "commande_vaccins",
        "USER": "postgres",
        "PASSWORD": "mot-de-passe-secret",
        "HOST": "127.0.0.1",
        "PORT": str(closed_port()),
        "OPTIONS": {"connect_timeout": 2},
        "CONN_MAX_AGE": 0,
    }
    settings.HEALTH_DATABASE_ALIAS = alias
    yield alias
    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


def fresh_beat(at=None) -> None:
    ScheduledJobRun.objects.update_or_create(
        name="beat_heartbeat",
        defaults={
            "last_started_at": at or timezone.now(),
            "last_finished_at": at or timezone.now(),
            "last_status": ScheduledJobRun.Status.SUCCESS,
        },
    )


def a_worker_beats(settings) -> None:
    health.worker_heartbeat_write("celery@worker-de-test")


def get(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    return response, response.json()


def statuses(body) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


# --- everything up, and development -------------------------------------------------------------------------------


@pytest.mark.redis
def test_all_up_is_200(client, settings, redis_up):
    fresh_beat()
    a_worker_beats(settings)
    response, body = get(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert statuses(body) == {"database": "ok", "redis": "ok", "worker": "ok", "beat": "ok"}
    assert body["checks"]["worker"]["workers"] == 1


def test_in_development_without_redis_celery_parts_are_disabled_not_failing(client, settings):
    settings.REDIS_URL = ""
    response, body = get(client)
    assert response.status_code == 200
    assert statuses(body) == {"database": "ok", "redis": "disabled", "worker": "disabled", "beat": "disabled"}


def test_it_is_public_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code in (200, 503)
    assert client.post("/healthz").status_code == 405


# --- each dependency down, separately -----------------------------------------------------------------------------


def test_an_unreachable_redis_is_reported_and_the_database_still_ok(client, settings):
    settings.REDIS_URL = f"redis://:mot-de-passe-redis@127.0.0.1:{closed_port()}/{REDIS_DB}"
    fresh_beat()
    response, body = get(client)
    assert response.status_code == 503
    assert body["status"] == "error"
    # The heartbeats live in Redis: the workers' state is unknown, not "down".
    assert statuses(body) == {"database": "ok", "redis": "error", "worker": "unknown", "beat": "ok"}
    text = response.content.decode()
    assert "mot-de-passe-redis" not in text and "127.0.0.1" not in text and "redis://" not in text


def test_an_unreachable_database_is_reported_without_redis(client, settings, unreachable_database):
    settings.REDIS_URL = ""
    response, body = get(client)
    assert response.status_code == 503
    assert statuses(body) == {"database": "error", "redis": "disabled", "worker": "disabled", "beat": "disabled"}
    text = response.content.decode()
    assert "mot-de-passe-secret" not in text and "127.0.0.1" not in text and "postgres" not in text.lower()


@pytest.mark.redis
def test_an_unreachable_database_is_reported_and_redis_still_ok(client, settings, redis_up, unreachable_database):
    a_worker_beats(settings)
    response, body = get(client)
    assert response.status_code == 503
    # Beat's last run is in the database: unknown while it is unreachable.
    assert statuses(body) == {"database": "error", "redis": "ok", "worker": "ok", "beat": "unknown"}


@pytest.mark.redis
def test_no_worker_heartbeat_is_a_worker_down(client, settings, redis_up):
    fresh_beat()
    response, body = get(client)
    assert response.status_code == 503
    assert statuses(body) == {"database": "ok", "redis": "ok", "worker": "error", "beat": "ok"}
    assert body["checks"]["worker"]["workers"] == 0


@pytest.mark.redis
def test_a_heartbeat_expires_after_its_maximum_age(client, settings, redis_up):
    settings.WORKER_HEARTBEAT_MAX_AGE = 1
    fresh_beat()
    a_worker_beats(settings)
    assert redis_up.ttl("cv:health:worker:celery@worker-de-test") == 1
    redis_up.pexpire("cv:health:worker:celery@worker-de-test", 1)  # as if a second had passed
    time.sleep(0.01)
    assert statuses(get(client)[1])["worker"] == "error"


@pytest.mark.redis
@pytest.mark.parametrize(
    ("minutes_ago", "status", "expected"),
    [(4, ScheduledJobRun.Status.SUCCESS, "ok"), (16, ScheduledJobRun.Status.SUCCESS, "error"), (None, None, "error")],
)
def test_beat_is_down_when_its_heartbeat_job_is_too_old_or_never_ran(
    client, settings, redis_up, minutes_ago, status, expected
):
    a_worker_beats(settings)
    if minutes_ago is not None:
        fresh_beat(at=timezone.now() - timedelta(minutes=minutes_ago))
    response, body = get(client)
    assert body["checks"]["beat"]["status"] == expected
    assert response.status_code == (200 if expected == "ok" else 503)


# --- a real worker --------------------------------------------------------------------------------------------------


def _wait_for(predicate, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.redis
def test_a_real_worker_beats_logs_json_lines_and_carries_the_request_id(client, settings):
    """A Celery worker (solo pool, Redis database 15 as broker and for its heartbeat) appears in /healthz while it
    runs and disappears when it stops; its log lines are JSON, and a task sent from a request logs that request's
    id."""
    import redis

    from vaccine_orders.celery import app
    from vaccine_orders.logging import request_id_var

    url = redis_url(settings, WORKER_REDIS_DB)
    store = redis.Redis.from_url(url)
    store.flushdb()
    settings.REDIS_URL = url
    fresh_beat()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.security.worker_settings",
        "REDIS_URL": url,
        "WORKER_HEARTBEAT_INTERVAL_SECONDS": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "vaccine_orders", "worker", "-P", "solo", "-c", "1", "-n", "sante@%h"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        up = _wait_for(lambda: statuses(get(client)[1])["worker"] == "ok", seconds=90)
        assert up, "the worker never beat"
        assert get(client)[0].status_code == 200

        token = request_id_var.set("requete-0123456789abcdef")
        try:
            with app.connection_for_write(url) as connection:
                app.send_task("vaccine_orders.health.ping", connection=connection)
        finally:
            request_id_var.reset(token)
        time.sleep(2)
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
    assert _wait_for(lambda: statuses(get(client)[1])["worker"] == "error", seconds=10), output[-2000:]

    lines = [line for line in output.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records, output[-2000:]
    assert all({"time", "level", "logger", "message", "request_id"} <= set(record) for record in records)
    assert any("ready" in record["message"] for record in records), output[-2000:]  # the worker's own lines too
    ping = [record for record in records if record["message"] == "ping"]
    assert ping, output[-3000:]
    assert ping[0]["request_id"] == "requete-0123456789abcdef"
    assert ping[0]["task"] == "vaccine_orders.health.ping"
    store.flushdb()
