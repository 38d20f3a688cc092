"""Two runs of the morning job at once (a beat tick doubled by a DST change, a retried task, two beat
processes by mistake), with real threads on PostgreSQL:

- both build the same day's report: the unique key (day, region) keeps one row, the loser's files go;
- both announce it: the conditional UPDATE that claims the e-mail lets one send; the control test shows
  that a check-then-act claim sends twice.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from fulfilment.reports import services
from fulfilment.reports.models import DailyReport, ReportSubscription
from tests import factories

from .conftest import make_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _run_together(target, count: int = 2) -> list[BaseException]:
    """Start `count` threads (each with its own database connection) on `target`; return their errors."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, name=f"t{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def yesterday(db):
    pharmacy = factories.PharmacyFactory()
    day = timezone.localdate() - timedelta(days=1)
    session = factories.OrderSessionFactory(
        opens_at=timezone.now() - timedelta(days=1, hours=2), closes_at=timezone.now() + timedelta(days=1)
    )
    order = factories.OrderFactory(pharmacy=pharmacy, session=session, validated_at=timezone.now() - timedelta(days=1))
    factories.OrderLineFactory(order=order, effector=factories.own_effector(pharmacy), quantity_requested=3)
    return day


@pytest.fixture
def slow_existence_check(monkeypatch):
    """Both runs find no report, then wait: both build files and try to insert."""
    real = services._existing_report

    def slow(**kwargs):
        found = real(**kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(services, "_existing_report", slow)


def test_two_runs_at_once_store_one_report_and_delete_the_losers_files(yesterday, slow_existence_check, monkeypatch):
    saved: list[str] = []
    real_save = default_storage.save

    def spy(name, content, max_length=None):
        saved.append(real_save(name, content, max_length=max_length))
        return saved[-1]

    monkeypatch.setattr(default_storage, "save", spy)
    region = factories.region("11")
    errors = _run_together(lambda: services.daily_report_generate(day=yesterday, region=region, at=timezone.now()))
    assert errors == []
    report = DailyReport.objects.get(day=yesterday, region=region)
    assert len(saved) == 4  # both runs built their two files
    kept = {report.csv_file.name, report.xlsx_file.name}
    assert {name for name in saved if default_storage.exists(name)} == kept


def _subscribed_agent():
    agent = make_agent(region_code="11", email="agent.idf@ars.sante.fr")
    ReportSubscription.objects.create(user=agent)
    return agent


def test_two_runs_at_once_send_each_email_once(yesterday):
    _subscribed_agent()
    report, _ = services.daily_report_generate(day=yesterday, region=factories.region("11"), at=timezone.now())
    real_recipients = services.get_user_model

    def slow_recipients():
        time.sleep(0.2)  # after the claim: the other run would send now if the claim let it
        return real_recipients()

    services.get_user_model = slow_recipients
    try:
        errors = _run_together(lambda: services.daily_report_notify(report=report, at=timezone.now()))
    finally:
        services.get_user_model = real_recipients
    assert errors == []
    assert [m.to for m in mail.outbox] == [["agent.idf@ars.sante.fr"]]


def test_control_a_check_then_act_claim_sends_twice(yesterday, monkeypatch):
    """The same race without the conditional UPDATE: read the flag, wait, then write it. Both runs send."""
    _subscribed_agent()
    report, _ = services.daily_report_generate(day=yesterday, region=factories.region("11"), at=timezone.now())

    def naive_claim(*, report, at):
        unclaimed = DailyReport.objects.get(pk=report.pk).notified_at is None
        time.sleep(0.3)
        DailyReport.objects.filter(pk=report.pk).update(notified_at=at)
        return unclaimed

    monkeypatch.setattr(services, "_claim_notification", naive_claim)
    errors = _run_together(lambda: services.daily_report_notify(report=report, at=timezone.now()))
    assert errors == []
    assert [m.to for m in mail.outbox] == [["agent.idf@ars.sante.fr"]] * 2
