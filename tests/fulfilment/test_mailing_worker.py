"""Acceptance of the Friday mailing on a REAL Celery worker (a `celery -A vaccine_orders worker`
subprocess) against Redis and PostgreSQL, sending to a real local SMTP sink (aiosmtpd):

- every recipient gets exactly one message, and running the Friday job again sends nothing;
- a worker killed with SIGKILL in the middle of the mailing, then restarted, finishes it: no recipient
  missed, duplicates counted and bounded by the batch size.

The worker runs in its own process on the test database, so the test data is committed
(`transaction=True`); this also avoids the DjangoWorkerFixup pitfall of an in-thread worker closing the
test's connection (ECOSYSTEM.md §6).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection
from django.utils import timezone

from fulfilment.models import OutboxMessage
from fulfilment.services import lines_confirm_as_ordered
from fulfilment.smtp_sink import SmtpSink
from tests import factories
from tests.fulfilment.conftest import add_order, moderna
from vaccine_orders.audit.actors import Actor
from vaccine_orders.portal.models import ScheduledJobRun

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOT = Path(__file__).resolve().parents[2]
BATCH_SIZE = 10
REDIS_DB = 10  # this suite's own Redis database


def _redis_url() -> str:
    parts = urlsplit(os.environ["REDIS_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        handle = self.log.open("a")
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "vaccine_orders",
                "worker",
                "-Q",
                "default,mail,pdf",
                "-c",
                "2",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"fulfilment-test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 reaches the pool children too
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(_redis_url())
    client.flushdb()
    yield _redis_url()
    client.flushdb()


@pytest.fixture
def sink():
    with SmtpSink(delay=0.03) as running:
        yield running


@pytest.fixture
def worker_factory(redis_db, sink):
    media = tempfile.mkdtemp(prefix="cv-worker-media-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_db,
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        "MEDIA_ROOT": media,
        "FULFILMENT_MAILING_BATCH_SIZE": str(BATCH_SIZE),
        # Short timeouts so that the sweep takes back the dead worker's rows within the test.
        "FULFILMENT_MAILING_CLAIM_TIMEOUT_SECONDS": "3",
        "FULFILMENT_MAILING_QUEUE_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    log = Path(media) / "worker.log"
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, log)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    if any(w.process.returncode not in (0, -9, -15, None) for w in workers):
        sys.stderr.write(log.read_text()[-5000:])
    connection.close()


def _send_task(redis_url: str, name: str) -> None:
    from celery import Celery

    producer = Celery("test-producer", broker=redis_url)
    producer.conf.broker_connection_retry_on_startup = True
    try:
        producer.send_task(name, queue="mail")
    finally:
        producer.close()


def _mailing(pharmacies: int) -> set[str]:
    """A published session: `pharmacies` officines, each ordering for itself and two doctors with an
    e-mail; all confirmed. Returns the expected recipients (3 per officine)."""
    session = factories.OrderSessionFactory(
        opens_at=timezone.now() - timedelta(days=3),
        closes_at=timezone.now() - timedelta(days=2),
        confirmation_published_at=timezone.now() - timedelta(hours=1),
    )
    product = moderna()
    recipients = set()
    for index in range(pharmacies):
        pharmacy = factories.PharmacyFactory(email=f"officine{index}@example.org")
        doctors = []
        for rank in range(2):
            doctor = factories.attached_effector(pharmacy, "doctor")
            doctor.professional.email = f"medecin{index}-{rank}@example.org"
            doctor.professional.save()
            doctors.append(doctor)
            recipients.add(doctor.professional.email)
        recipients.add(pharmacy.email)
        add_order(
            pharmacy,
            session,
            [(factories.own_effector(pharmacy), product, 10), *[(doctor, product, 5) for doctor in doctors]],
        )
    lines_confirm_as_ordered(session=session, actor=Actor.system())
    return recipients


def _statuses() -> dict[str, int]:
    from django.db.models import Count

    return dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")).order_by())


def _job_finished_after(name: str, moment) -> bool:
    run = ScheduledJobRun.objects.filter(name=name).first()
    return bool(run and run.last_finished_at and run.last_finished_at > moment)


def test_every_recipient_gets_exactly_one_message_and_a_second_run_sends_nothing(worker_factory, sink, redis_db):
    expected = _mailing(pharmacies=8)
    worker_factory()

    _send_task(redis_db, "fulfilment.tasks.friday_mailing")
    _wait_for(lambda: _statuses().get("sent", 0) == len(expected), 120, "every message sent")

    received = sink.per_recipient()
    assert set(received) == expected
    assert set(received.values()) == {1}
    # One SMTP connection per batch, not per message.
    assert sink.connections <= -(-len(expected) // BATCH_SIZE)

    moment = timezone.now()
    _send_task(redis_db, "fulfilment.tasks.friday_mailing")
    _wait_for(lambda: _job_finished_after("friday_mailing", moment), 60, "the second Friday run")
    run = ScheduledJobRun.objects.get(name="friday_mailing")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert run.last_summary == "0 message(s) préparé(s), 0 lot(s) mis en file"
    time.sleep(1)
    assert sink.count == len(expected)


def test_a_worker_killed_mid_mailing_and_restarted_misses_nobody(worker_factory, sink, redis_db):
    expected = _mailing(pharmacies=24)  # 72 messages, 8 batches of 10
    worker = worker_factory()
    _send_task(redis_db, "fulfilment.tasks.friday_mailing")
    _wait_for(lambda: sink.count >= 20, 120, "the mailing to be under way")
    worker.kill()

    at_kill = sink.count
    assert at_kill < len(expected), "the worker must die in the middle of the mailing"
    assert _statuses().get("sent", 0) < len(expected)

    worker_factory()
    time.sleep(6)  # beyond the claim (3 s) and queue (5 s) timeouts: the dead worker's rows are stale
    _send_task(redis_db, "fulfilment.tasks.mailing_sweep")  # what beat does every five minutes
    _wait_for(lambda: _statuses() == {"sent": len(expected)}, 180, "the mailing to finish")

    received = sink.per_recipient()
    assert set(received) == expected  # nobody missed
    duplicates = sum(received.values()) - len(expected)
    reclaimed = sum(OutboxMessage.objects.values_list("reclaims", flat=True))
    # A message is sent twice only if it was accepted by the sink but not yet marked sent when the
    # worker died: at most one per pool process, always within the batch, and counted in `reclaims`.
    assert duplicates <= reclaimed
    assert duplicates <= BATCH_SIZE
    sys.stderr.write(f"\nkilled after {at_kill} messages; duplicates: {duplicates}; rows taken back: {reclaimed}\n")
