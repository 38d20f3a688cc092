"""Personal data: the journal and the support requests are purged after their retention period by a nightly job, and
the admin shows the last run of every scheduled job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.psc import login_agent
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.portal.jobs import beat_job_names
from vaccine_orders.portal.models import ScheduledJobRun, SupportMessage, SupportRequest
from vaccine_orders.portal.retention import personal_data_purge

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def event(action: str, age: timedelta) -> AuditEvent:
    return AuditEvent.objects.create(action=action, actor_label="Test", created_at=timezone.now() - age)


def support_request(status: str, age: timedelta, *, messages: int = 2) -> SupportRequest:
    sent = timezone.now() - age - 2 * DAY
    request = factories.SupportRequestFactory(
        status=status,
        created_at=sent,
        closed_at=sent + DAY if status == SupportRequest.Status.CLOSED else None,
    )
    for n in range(messages):
        SupportMessage.objects.create(request=request, kind="note", body=f"Note {n}", author_label="Support")
    SupportRequest.objects.filter(pk=request.pk).update(updated_at=timezone.now() - age)
    return request


def test_the_retention_periods_are_three_years_for_changes_one_year_for_consultations_and_support():
    assert django_settings.AUDIT_RETENTION_DAYS == 3 * 365
    assert django_settings.AUDIT_ACCESS_LOG_RETENTION_DAYS == 365
    assert django_settings.SUPPORT_RETENTION_DAYS == 365


def test_journal_entries_go_after_their_own_period():
    three_years, one_year = 3 * 365 * DAY, 365 * DAY
    kept = [
        event("order.modified", three_years - DAY),
        event("effector.attached", 2 * one_year),
        event("support.pharmacy_file_viewed", one_year - DAY),
        event("accounts.login", one_year - DAY),
        event("support.reply_sent", one_year - DAY),
    ]
    purged = [
        event("order.modified", three_years + DAY),
        event("accounts.pharmacy_email_changed", three_years + DAY),
        event("support.pharmacy_file_viewed", one_year + DAY),
        event("support.admin_record_viewed", one_year + DAY),
        event("accounts.login", one_year + DAY),
        event("accounts.login_refused", one_year + DAY),
        event("report.exported", one_year + DAY),
        event("support.reply_sent", one_year + DAY),
    ]
    result = personal_data_purge(now=timezone.now())
    assert (result.audit_changes, result.audit_access_log, result.audit_support_log) == (2, 5, 1)
    remaining = set(AuditEvent.objects.exclude(action="retention.purged").values_list("pk", flat=True))
    assert remaining == {e.pk for e in kept}
    assert not remaining & {e.pk for e in purged}


def test_finished_support_requests_go_with_their_messages_open_ones_stay():
    year = 365 * DAY
    old_closed = support_request(SupportRequest.Status.CLOSED, year + DAY)
    old_answered = support_request(SupportRequest.Status.ANSWERED, year + DAY)
    recent_closed = support_request(SupportRequest.Status.CLOSED, year - DAY)
    old_open = [support_request(status, 2 * year) for status in SupportRequest.OPEN_STATUSES]

    result = personal_data_purge(now=timezone.now())

    assert (result.support_requests, result.support_messages) == (2, 4)
    assert not SupportRequest.objects.filter(pk__in=[old_closed.pk, old_answered.pk]).exists()
    assert not SupportMessage.objects.filter(request_id__in=[old_closed.pk, old_answered.pk]).exists()
    assert set(SupportRequest.objects.values_list("pk", flat=True)) == {recent_closed.pk, *(r.pk for r in old_open)}


def test_the_purge_is_journaled_batched_and_idempotent():
    for _ in range(5):
        event("order.created", 4 * 365 * DAY)
    result = personal_data_purge(now=timezone.now(), batch_size=2)
    assert result.audit_changes == 5
    journal = AuditEvent.objects.get(action="retention.purged")
    assert journal.actor is None and "Purge" in journal.actor_label
    assert journal.after["audit_changes"] == 5
    assert "5 modification(s)" in journal.summary

    again = personal_data_purge(now=timezone.now())
    assert again.total == 0
    assert AuditEvent.objects.filter(action="retention.purged").count() == 1  # nothing purged, nothing journaled


def test_the_periods_come_from_the_settings(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    young, old = event("order.created", 29 * DAY), event("order.created", 31 * DAY)
    personal_data_purge(now=timezone.now())
    assert AuditEvent.objects.filter(pk=young.pk).exists()
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_the_nightly_job_is_scheduled_and_records_its_run(run_tasks):
    from vaccine_orders.portal.tasks import personal_data_purge_task

    entry = django_settings.CELERY_BEAT_SCHEDULE["personal-data-purge"]
    assert entry["task"] == personal_data_purge_task.name
    event("order.created", 4 * 365 * DAY)
    personal_data_purge_task.delay()
    run = ScheduledJobRun.objects.get(name="personal_data_purge")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert "1 modification(s)" in run.last_summary


# --- the scheduled jobs in the admin ------------------------------------------------------------------------------


def test_every_scheduled_task_records_its_runs_under_its_name(run_tasks, settings):
    """Each task of the beat schedule, run once on an empty database, leaves its ScheduledJobRun (named after the
    last part of the task's name): /healthz and the admin can rely on it."""
    import importlib

    from vaccine_orders.celery import app

    settings.LOGISTICS_EXPORT_EMAIL = ""
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        importlib.import_module(entry["task"].rsplit(".", 1)[0])  # the worker's autodiscovery, done here
        app.tasks[entry["task"]].delay()
        record = entry["task"].rsplit(".", 1)[-1]
        run = ScheduledJobRun.objects.filter(name=record).first()
        assert run is not None, f"{name}: {entry['task']} does not record its runs as {record!r}"
        assert run.last_status == ScheduledJobRun.Status.SUCCESS, (name, run.last_error)


def test_the_admin_lists_every_scheduled_job_with_its_last_run(admin_user):
    ScheduledJobRun.objects.create(
        name="beat_heartbeat",
        last_started_at=timezone.now(),
        last_finished_at=timezone.now(),
        last_status=ScheduledJobRun.Status.SUCCESS,
        last_summary="ok",
    )
    client = login_agent(Client(), admin_user)
    response = client.get("/admin/portal/scheduledjobrun/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in beat_job_names():
        assert name in page, f"{name} is not listed"
    assert "Réussi" in page  # the heartbeat's last state
    assert "cron « */5 * * * * »" in page
    assert ScheduledJobRun.objects.count() == len(beat_job_names())  # the others: "never ran" rows
