"""Publication: confirmations become visible at the session's instant (Wednesday 18:00 by default), to the
second; the scheduled job publishes each session once and renders its PDFs."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from fulfilment.models import OrderSummary, SessionFulfilment
from fulfilment.selectors import confirmations_visible, order_follow_up, publication_instant
from fulfilment.services import lines_confirm_as_ordered, sessions_publish_due
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.portal.models import ScheduledJobRun

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def test_default_publication_is_18h_paris_the_day_after_closing():
    session = factories.OrderSessionFactory(
        opens_at=datetime(2022, 3, 7, 8, 0, tzinfo=PARIS),
        closes_at=datetime(2022, 3, 8, 23, 0, tzinfo=PARIS),
        confirmation_published_at=None,
    )
    assert publication_instant(session=session) == datetime(2022, 3, 9, 18, 0, tzinfo=PARIS)
    assert not confirmations_visible(session=session, at=datetime(2022, 3, 9, 17, 59, 59, tzinfo=PARIS))
    assert confirmations_visible(session=session, at=datetime(2022, 3, 9, 18, 0, 0, tzinfo=PARIS))


def test_an_explicit_publication_instant_wins():
    session = factories.OrderSessionFactory(
        opens_at=datetime(2022, 3, 7, 8, 0, tzinfo=PARIS),
        closes_at=datetime(2022, 3, 8, 23, 0, tzinfo=PARIS),
        confirmation_published_at=datetime(2022, 3, 10, 12, 0, tzinfo=PARIS),
    )
    assert publication_instant(session=session) == datetime(2022, 3, 10, 12, 0, tzinfo=PARIS)


def test_nothing_confirmed_is_readable_before_the_instant(closed_cast, staff_actor):
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    instant = publication_instant(session=closed_cast.session)

    before = order_follow_up(order=closed_cast.order, at=instant - timedelta(seconds=1))
    assert not before.visible
    assert before.delivery_date is None
    assert all(line.confirmed is None and line.reason == "" and line.delivered is None for line in before.lines)
    assert all(product.confirmed == 0 and product.doses_confirmed is None for product in before.products)

    after = order_follow_up(order=closed_cast.order, at=instant)
    assert after.visible
    assert after.delivery_date is not None
    assert all(line.confirmed == line.requested for line in after.lines)


def test_the_job_publishes_each_due_session_once_and_renders_its_pdfs(
    closed_cast, staff_actor, run_tasks, django_capture_on_commit_callbacks
):
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    instant = publication_instant(session=closed_cast.session)
    actor = Actor.system("Publication des confirmations")

    assert sessions_publish_due(at=instant - timedelta(minutes=1), actor=actor) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert sessions_publish_due(at=instant, actor=actor) == [closed_cast.session.pk]
    assert SessionFulfilment.objects.get(session=closed_cast.session).published_at == instant
    assert OrderSummary.objects.filter(order=closed_cast.order).exists()
    assert AuditEvent.objects.filter(action="fulfilment.confirmations_published").count() == 1

    assert sessions_publish_due(at=instant + timedelta(minutes=15), actor=actor) == []
    assert AuditEvent.objects.filter(action="fulfilment.confirmations_published").count() == 1


def test_the_scheduled_task_records_its_run(closed_cast):
    from fulfilment.tasks import publish_due_confirmations

    with time_machine.travel(publication_instant(session=closed_cast.session) + timedelta(minutes=1)):
        publish_due_confirmations()
    run = ScheduledJobRun.objects.get(name="publish_due_confirmations")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert run.last_summary.startswith("1 session(s) publiée(s)")


def test_beat_schedules_publication_and_the_friday_mailing_in_paris_time():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert settings.CELERY_TIMEZONE == "Europe/Paris"
    friday = schedule["fulfilment-friday-mailing"]
    assert friday["task"] == "fulfilment.tasks.friday_mailing"
    assert friday["schedule"].day_of_week == {5}
    assert friday["schedule"].hour == {8}
    publication = schedule["fulfilment-publish-confirmations"]["schedule"]
    assert 0 in publication.minute and 18 in publication.hour  # fires at Wednesday 18:00 on the dot
    assert "fulfilment-mailing-sweep" in schedule


def test_the_publication_job_ignores_sessions_closed_long_ago(pharmacy_a):
    session = factories.OrderSessionFactory(
        opens_at=timezone.now() - timedelta(days=90), closes_at=timezone.now() - timedelta(days=89)
    )
    assert sessions_publish_due(at=timezone.now(), actor=Actor.system()) == []
    assert confirmations_visible(session=session, at=timezone.now())  # visibility does not depend on the job
