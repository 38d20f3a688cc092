"""SpF's admin of the daily reports and subscriptions: changelists under a query budget, links to the
authorised download, the resend and unsubscribe actions through the services; nothing editable by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from fulfilment.reports.models import DailyReport, ReportSubscription
from fulfilment.reports.services import daily_report_generate, subscription_set
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent

from .conftest import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports(seed):
    day = timezone.localdate() - timedelta(days=1)
    return [
        daily_report_generate(day=day, region=factories.region(code), at=timezone.now())[0] for code in ("11", "84")
    ]


def test_the_changelists_load_with_bounded_queries(admin_client, reports, django_assert_max_num_queries):
    for code in ("11", "84", "93"):
        agent = make_agent(region_code="11" if code == "93" else code, email=f"agent{code}@ars.sante.fr")
        subscription_set(user=agent, subscribed=True, actor=Actor.system())
    for name in ("dailyreport", "reportsubscription"):
        with django_assert_max_num_queries(12):
            response = admin_client.get(reverse(f"admin:reports_{name}_changelist"))
        assert response.status_code == 200, name
    page = admin_client.get(reverse("admin:reports_dailyreport_changelist")).content.decode()
    assert reverse("reports:daily_download", args=[reports[0].pk, "xlsx"]) in page
    assert admin_client.get(reverse("admin:reports_dailyreport_add")).status_code == 403


def test_sending_a_report_again_goes_through_the_service(admin_client, reports):
    agent = make_agent(region_code="11", email="agent.idf@ars.sante.fr")
    ReportSubscription.objects.create(user=agent)
    DailyReport.objects.filter(pk=reports[0].pk).update(notified_at=timezone.now())
    response = admin_client.post(
        reverse("admin:reports_dailyreport_changelist"),
        {"action": "send_again", "_selected_action": [reports[0].pk]},
    )
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["agent.idf@ars.sante.fr"]]


def test_unsubscribing_from_the_admin_is_journaled(admin_client, seed):
    agent = make_agent(region_code="11", email="agent.idf@ars.sante.fr")
    subscription_set(user=agent, subscribed=True, actor=Actor.system())
    subscription = ReportSubscription.objects.get(user=agent)
    assert admin_client.get(reverse("admin:reports_reportsubscription_add")).status_code == 403
    admin_client.post(
        reverse("admin:reports_reportsubscription_changelist"),
        {"action": "unsubscribe", "_selected_action": [subscription.pk]},
    )
    assert not ReportSubscription.objects.exists()
    assert AuditEvent.objects.filter(action="report.unsubscribed").count() == 1
