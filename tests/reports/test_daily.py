"""The daily report: generated each morning for the previous day, per region, stored, idempotent; e-mailed as
a link to the agents who subscribed (their region only, once); 90 days kept, older ones purged by the same
job; the Celery task records its run."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from fulfilment.reports import services
from fulfilment.reports.models import DailyReport, ReportSubscription
from fulfilment.reports.services import (
    daily_report_generate,
    daily_report_notify,
    daily_reports_purge,
    daily_reports_run,
)
from tests import factories
from tests.psc import login_agent
from vaccine_orders.portal.models import ScheduledJobRun

from .conftest import make_agent, paris_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def morning_after(seed):
    """06:30 (Paris) the morning after the published session's orders were validated."""
    day = timezone.localtime(seed.published.opens_at).date()
    with time_machine.travel(paris_at(day + timedelta(days=1), 6, 30), tick=False):
        yield day


def _csv_rows(report: DailyReport) -> list[list[str]]:
    with default_storage.open(report.csv_file.name, "rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_the_report_of_the_day_per_region_is_stored_with_the_days_figures(seed, morning_after):
    report, created = daily_report_generate(day=morning_after, region=factories.region("11"), at=timezone.now())
    assert created and report.order_count == 2
    # Comirnaty 5 + 3 + 10 + 7 vials × 6 doses; Spikevax 5 boxes × 10 vials × 10 doses.
    assert report.doses_ordered == 150 + 500
    rows = _csv_rows(report)
    assert rows[0][:4] == ["Type de professionnel", "Produit", "Unité", "Commandes"]
    body = {(r[0], r[1]): r for r in rows[1:-1]}
    assert body[("Pharmacien (officine)", "Comirnaty")][4:7] == ["12", "12", "72"]  # Paris 5 + Bobigny 7
    assert body[("Médecin", "Spikevax (boîte)")][4:7] == ["3", "30", "300"]
    assert rows[-1][0] == "Total" and rows[-1][6] == "650"
    text = "".join(",".join(r) for r in rows)
    assert "Pharmacie du Marché" not in text and seed.paris.finess not in text  # by type and product only
    with default_storage.open(report.xlsx_file.name, "rb") as handle:
        workbook = load_workbook(handle)
    assert workbook.sheetnames == ["Rapport", "À propos"]
    sheet = [list(r) for r in workbook["Rapport"].iter_rows(values_only=True)]
    assert sheet[-1][0] == "Total" and sheet[-1][6] == 650
    about = dict(workbook["À propos"].iter_rows(min_row=2, values_only=True))
    assert about["Région"] == "Île-de-France"
    assert report.csv_file.name.startswith("reports/daily/11/")


def test_generating_twice_keeps_one_report(seed, morning_after):
    region = factories.region("11")
    first, created = daily_report_generate(day=morning_after, region=region, at=timezone.now())
    second, created_again = daily_report_generate(day=morning_after, region=region, at=timezone.now())
    assert created and not created_again and first.pk == second.pk
    assert DailyReport.objects.count() == 1


def test_when_another_run_wins_the_race_the_loser_deletes_its_files(seed, morning_after):
    """The existence check passes, then another run inserts first: the unique key refuses the second row."""
    region = factories.region("84")
    winner, _ = daily_report_generate(day=morning_after, region=region, at=timezone.now())
    saved: list[str] = []
    original_save = default_storage.save

    def spy(name, content, max_length=None):
        saved.append(original_save(name, content, max_length=max_length))
        return saved[-1]

    with (
        mock.patch.object(services, "_existing_report", return_value=None),  # the other run had not committed yet
        mock.patch.object(default_storage, "save", side_effect=spy),
    ):
        report, created = daily_report_generate(day=morning_after, region=region, at=timezone.now())
    assert not created and report.pk == winner.pk
    assert len(saved) == 2 and not any(default_storage.exists(name) for name in saved)
    assert default_storage.exists(winner.csv_file.name) and default_storage.exists(winner.xlsx_file.name)


def test_the_database_refuses_a_second_report_of_the_same_day_and_region(seed, morning_after):
    region = factories.region("11")
    daily_report_generate(day=morning_after, region=region, at=timezone.now())
    with pytest.raises(IntegrityError):
        DailyReport.objects.create(day=morning_after, region=region, generated_at=timezone.now())


def test_subscribed_agents_of_the_region_get_the_link_once(seed, morning_after, ars_idf, ars_ara):
    colleague = make_agent(region_code="11", email="collegue@ars.sante.fr")
    unsubscribed = make_agent(region_code="11", email="pas-abonne@ars.sante.fr")  # noqa: F841
    inactive = make_agent(region_code="11", email="parti@ars.sante.fr")
    inactive.is_active = False
    inactive.save()
    for agent in (ars_idf, colleague, ars_ara, inactive):
        ReportSubscription.objects.create(user=agent)
    summary = daily_reports_run(at=timezone.now())
    assert summary.generated == 7 * 18  # the previous day and the six before it, every region
    recipients = sorted(m.to[0] for m in mail.outbox)
    # Île-de-France: its two subscribed active agents, for each of the 7 days; the agent of 84 gets 84's.
    assert recipients.count("agent.idf@ars.sante.fr") == 7 and recipients.count("collegue@ars.sante.fr") == 7
    assert recipients.count("agent.ara@ars.sante.fr") == 7
    assert "pas-abonne@ars.sante.fr" not in recipients and "parti@ars.sante.fr" not in recipients
    message = next(
        m for m in mail.outbox if m.to == ["agent.idf@ars.sante.fr"] and f"{morning_after:%d/%m/%Y}" in m.subject
    )
    assert message.subject == f"[Commande de vaccins] Rapport quotidien du {morning_after:%d/%m/%Y} – Île-de-France"
    report = DailyReport.objects.get(day=morning_after, region__code="11")
    link = settings.SITE_URL + reverse("reports:daily_download", args=[report.pk, "xlsx"])
    assert link in message.body and "2 commande(s), 650 dose(s)" in message.body
    html = message.alternatives[0][0]
    assert f'href="{link}"' in html
    # The second run of the morning (DST, a retry): nothing generated, nothing sent.
    sent = len(mail.outbox)
    again = daily_reports_run(at=timezone.now())
    assert again.generated == 0 and again.notified == 0 and len(mail.outbox) == sent


def test_a_failed_sending_is_tried_again_by_the_next_run(seed, morning_after, ars_idf):
    ReportSubscription.objects.create(user=ars_idf)
    report, _ = daily_report_generate(day=morning_after, region=factories.region("11"), at=timezone.now())
    with (
        mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("SMTP")),
        pytest.raises(OSError, match="SMTP"),
    ):
        daily_report_notify(report=report, at=timezone.now())
    report.refresh_from_db()
    assert report.notified_at is None
    assert daily_report_notify(report=report, at=timezone.now()) == 1
    assert daily_report_notify(report=report, at=timezone.now()) == 0


def test_reports_older_than_90_days_are_purged_with_their_files(seed):
    region = factories.region("11")
    today = timezone.localdate()
    kept, _ = daily_report_generate(day=today - timedelta(days=90), region=region, at=timezone.now())
    old, _ = daily_report_generate(day=today - timedelta(days=91), region=region, at=timezone.now())
    files = [old.csv_file.name, old.xlsx_file.name]
    assert daily_reports_purge(today=today) == 1
    assert list(DailyReport.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not any(default_storage.exists(name) for name in files)
    assert default_storage.exists(kept.csv_file.name)


def test_the_agents_list_shows_90_days_and_downloads_them(client, seed, morning_after, ars_idf):
    daily_reports_run(at=timezone.now(), catch_up_days=1)
    login_agent(client, ars_idf)
    page = client.get(reverse("reports:daily_list")).content.decode()
    report = DailyReport.objects.get(day=morning_after, region__code="11")
    assert reverse("reports:daily_download", args=[report.pk, "csv"]) in page
    response = client.get(reverse("reports:daily_download", args=[report.pk, "csv"]))
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"] == (
        f'attachment; filename="rapport-quotidien-11-{morning_after:%Y%m%d}.csv"'
    )
    assert b"".join(response.streaming_content).startswith(b"\xef\xbb\xbfType de professionnel")
    xlsx = client.get(reverse("reports:daily_download", args=[report.pk, "xlsx"]))
    assert xlsx["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_task_runs_the_job_and_records_it(seed, morning_after, run_tasks):
    from fulfilment.reports.tasks import daily_reports

    daily_reports.delay()
    run = ScheduledJobRun.objects.get(name="daily_reports")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert run.last_summary.startswith("126 rapport(s) généré(s), 0 e-mail(s) envoyé(s)")
    assert DailyReport.objects.filter(day=morning_after).count() == 18


def test_a_failing_job_is_recorded_as_failed(seed, morning_after, run_tasks):
    from fulfilment.reports.tasks import daily_reports

    with (
        mock.patch.object(services, "daily_report_generate", side_effect=RuntimeError("disque plein")),
        pytest.raises(RuntimeError),
    ):
        daily_reports.delay()
    run = ScheduledJobRun.objects.get(name="daily_reports")
    assert run.last_status == ScheduledJobRun.Status.FAILED and "disque plein" in run.last_error


def test_the_beat_runs_it_at_0630_paris_time():
    entry = settings.CELERY_BEAT_SCHEDULE["reports-daily"]
    assert entry["task"] == "fulfilment.reports.tasks.daily_reports"
    assert entry["schedule"] == crontab(hour=6, minute=30)
    assert settings.CELERY_TIMEZONE == "Europe/Paris"
