"""Region isolation, for EVERY report URL and EVERY parameter: an ARS agent gets nothing of another region,
whatever they put in the query string or the path; and nothing at all without the second factor.

The list of URLs is read from fulfilment/reports/urls.py: a new URL without its case below fails
`test_every_report_url_has_an_isolation_case`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from fulfilment.reports import urls as report_urls
from fulfilment.reports.models import ReportSubscription
from fulfilment.reports.services import daily_report_generate
from tests import factories
from tests.psc import login_agent

from .conftest import make_agent

pytestmark = pytest.mark.django_db

FORMATS = ("csv", "xlsx")


def _content(response) -> str:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if data.startswith(b"PK"):  # an XLSX: read its cells back
        import io

        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(data), read_only=True)
        return "\n".join(
            ";".join("" if v is None else str(v) for v in row)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return data.decode("utf-8-sig")


@pytest.fixture
def daily(seed):
    """A stored daily report for each region, the day the published session's orders were validated."""
    day = timezone.localtime(seed.published.opens_at).date()
    idf, _ = daily_report_generate(day=day, region=factories.region("11"), at=timezone.now())
    ara, _ = daily_report_generate(day=day, region=factories.region("84"), at=timezone.now())
    return {"11": idf, "84": ara}


def _session_params(seed) -> dict:
    return {"periode": "sessions", "sessions": [seed.published.pk, seed.pending.pk]}


def _cases(seed, daily) -> dict[str, list[tuple[str, dict]]]:
    """For each URL name: (url, base parameters that give the agent of region 84 their own figures)."""
    sessions = _session_params(seed)
    requisition = {**sessions, "produit": seed.vaccine.code}
    return {
        "index": [(reverse("reports:index"), sessions)],
        "report_download": [(reverse("reports:report_download", args=[f]), sessions) for f in FORMATS],
        "lines_download": [(reverse("reports:lines_download", args=[f]), sessions) for f in FORMATS],
        "requisition": [(reverse("reports:requisition"), requisition)],
        "requisition_download": [(reverse("reports:requisition_download", args=[f]), requisition) for f in FORMATS],
        "daily_list": [(reverse("reports:daily_list"), {})],
        "daily_download": [(reverse("reports:daily_download", args=[daily["84"].pk, f]), {}) for f in FORMATS],
        "subscription": [(reverse("reports:subscription"), {})],
    }


POST_ONLY = {"subscription"}


def test_every_report_url_has_an_isolation_case(seed, daily):
    names = {pattern.name for pattern in report_urls.urlpatterns}
    assert names == set(_cases(seed, daily)), "add the new URL to _cases and to the tests of this module"


def _foreign_values(seed) -> list[tuple[str, str]]:
    """Every scope parameter, with values of region 11 (Île-de-France), for the agent of region 84."""
    return [
        ("region", "11"),
        ("departement", "75"),
        ("departement", "93"),
        ("officine", seed.paris.finess),
        ("officine", seed.bobigny.finess),
        ("officine", seed.paris.finess.lower() + " "),  # normalised like a typed FINESS
        ("region", "zz"),  # unknown values are refused the same way
        ("departement", "00"),
        ("officine", "123"),
    ]


def _get(client, name: str, url: str, params: dict):
    if name in POST_ONLY:
        return client.post(url, params)
    return client.get(url, params)


def test_the_agent_of_region_84_gets_their_own_figures_through_every_url(client, seed, daily, ars_ara):
    """The control: with region 84's own values, every URL answers with region 84's figures and nothing of 11."""
    login_agent(client, ars_ara)
    own_values = [("region", "84"), ("departement", "69"), ("officine", seed.lyon.finess)]
    for name, cases in _cases(seed, daily).items():
        for url, base in cases:
            for key, value in [(None, None), *own_values]:
                params = dict(base)
                if key and name not in POST_ONLY:
                    params[key] = value
                response = _get(client, name, url, params)
                assert response.status_code in (200, 302), (url, key, response.status_code)
                if name in POST_ONLY:
                    continue
                assert response.status_code == 200, (url, key)
                text = _content(response)
                assert seed.paris.finess not in text and seed.bobigny.finess not in text, (url, key)
                assert "Pharmacie du Marché" not in text and "Pharmacie de la Gare" not in text, (url, key)


@pytest.mark.parametrize("file_format", [None, *FORMATS])
def test_region_84_figures_are_exactly_their_own(client, seed, daily, ars_ara, file_format):
    """National parameters (sessions, product, breakdown) do not widen the scope: the figures are 84's."""
    login_agent(client, ars_ara)
    params = {**_session_params(seed), "ventilation": ["pharmacy"], "produit": seed.vaccine.code}
    url = reverse("reports:index") if file_format is None else reverse("reports:report_download", args=[file_format])
    text = _content(client.get(url, params))
    assert seed.lyon.finess in text
    assert "1200" in text.replace("\u202f", "")  # 500 + 400 + 300 vials of the vaccine ordered in Lyon
    assert seed.paris.finess not in text and seed.bobigny.finess not in text


def test_every_url_and_every_scope_parameter_outside_the_region_is_a_404(client, seed, daily, ars_ara):
    login_agent(client, ars_ara)
    checked = 0
    for name, cases in _cases(seed, daily).items():
        for url, base in cases:
            for key, value in _foreign_values(seed):
                response = _get(client, name, url, {**base, key: value})
                if name in POST_ONLY:
                    # The subscription takes no scope: whatever is posted, the agent subscribes to their own region.
                    assert response.status_code == 302
                    continue
                assert response.status_code == 404, (url, key, value)
                checked += 1
    assert checked >= 9 * 9


SCOPE_PARAMETERS = {"region", "departement", "officine"}
# Parameters that are not about where: they select among the scope's own orders, never widen it.
OTHER_PARAMETERS = {"periode", "du", "au", "sessions", "ventilation", "produit", "page", "abonnement"}


def test_every_parameter_of_the_report_forms_is_checked_here(seed):
    """A new field in a report form fails here until it is classified (and tested) as scope or not."""
    from fulfilment.reports.forms import DailyReportsFilterForm, ReportForm, RequisitionForm

    fields = {*ReportForm.base_fields, *RequisitionForm.base_fields, *DailyReportsFilterForm.base_fields}
    assert fields | {"page", "abonnement"} == SCOPE_PARAMETERS | OTHER_PARAMETERS
    assert {key for key, _ in _foreign_values(seed)} == SCOPE_PARAMETERS


def test_the_other_parameters_at_their_widest_still_give_only_the_agents_region(client, seed, daily, ars_ara):
    """Every session, the widest dates, every breakdown, a product, a page: nothing of region 11 comes out."""
    login_agent(client, ars_ara)
    widest = {
        "periode": "dates",
        "du": (timezone.localdate() - timedelta(days=365)).isoformat(),
        "au": timezone.localdate().isoformat(),
        "ventilation": ["type", "product", "department", "pharmacy", "session"],
        "page": "1",
    }
    for name, cases in _cases(seed, daily).items():
        if name in POST_ONLY:
            continue
        for url, base in cases:
            for extra in (widest, {**_session_params(seed), "page": "1"}, {"produit": seed.vaccine.code}):
                response = client.get(url, {**base, **extra})
                assert response.status_code in (200, 302), (url, extra)
                if response.status_code == 302:
                    continue  # back to the form (a product is required for the requisition)
                text = _content(response)
                assert seed.paris.finess not in text and seed.bobigny.finess not in text, (url, extra)
                assert "Pharmacie du Marché" not in text, (url, extra)


def test_a_repeated_parameter_cannot_smuggle_a_foreign_value(client, seed, daily, ars_ara):
    """Django reads the last value of a repeated parameter, everywhere: own then foreign is a 404, foreign then
    own gives region 84 only."""
    login_agent(client, ars_ara)
    url = reverse("reports:index")
    base = f"periode=sessions&sessions={seed.published.pk}&sessions={seed.pending.pk}"
    assert client.get(f"{url}?{base}&departement=69&departement=75").status_code == 404
    response = client.get(f"{url}?{base}&departement=75&departement=69")
    assert response.status_code == 200
    assert "Pharmacie du Marché" not in response.content.decode()


def test_another_regions_daily_report_is_a_404_by_its_id(client, seed, daily, ars_ara):
    login_agent(client, ars_ara)
    for file_format in FORMATS:
        url = reverse("reports:daily_download", args=[daily["11"].pk, file_format])
        assert client.get(url).status_code == 404
    assert client.get(reverse("reports:daily_download", args=[daily["84"].pk + 1000, "csv"])).status_code == 404
    listing = client.get(reverse("reports:daily_list")).content.decode()
    assert reverse("reports:daily_download", args=[daily["11"].pk, "csv"]) not in listing
    assert reverse("reports:daily_download", args=[daily["84"].pk, "csv"]) in listing


def test_a_subscription_is_for_the_agents_own_region_whatever_is_posted(client, seed, daily, ars_ara, ars_idf):
    from django.core import mail

    from fulfilment.reports.services import daily_report_notify

    login_agent(client, ars_ara)
    client.post(reverse("reports:subscription"), {"abonnement": "oui", "region": "11"})
    assert ReportSubscription.objects.filter(user=ars_ara).exists()
    daily_report_notify(report=daily["11"], at=timezone.now())
    assert mail.outbox == []  # region 11's report is not sent to the agent of 84
    daily_report_notify(report=daily["84"], at=timezone.now())
    assert [m.to for m in mail.outbox] == [[ars_ara.email]]


def test_staff_see_any_region_and_the_whole_country(client, seed, daily, spf_agent):
    login_agent(client, spf_agent)
    base = _session_params(seed)
    national = client.get(reverse("reports:index"), {**base, "ventilation": ["pharmacy"]}).content.decode()
    assert seed.lyon.finess in national and seed.paris.finess in national
    idf = client.get(reverse("reports:index"), {**base, "ventilation": ["pharmacy"], "region": "11"}).content.decode()
    assert seed.paris.finess in idf and seed.lyon.finess not in idf
    for file_format in FORMATS:
        assert client.get(reverse("reports:daily_download", args=[daily["11"].pk, file_format])).status_code == 200
    assert client.get(reverse("reports:index"), {**base, "region": "zz"}).status_code == 404


def test_staff_choosing_a_department_of_another_region_get_a_message_and_no_figures(client, seed, spf_agent):
    login_agent(client, spf_agent)
    response = client.get(reverse("reports:index"), {**_session_params(seed), "region": "84", "departement": "75"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "appartiennent pas" in page and 'id="rapport"' not in page
    csv = client.get(reverse("reports:report_download", args=["csv"]), {"region": "84", "departement": "75"})
    assert csv.status_code == 302 and csv["Location"].startswith(reverse("reports:index"))


# --- who may come at all ------------------------------------------------------------------------------------


def _all_urls(seed, daily) -> list[tuple[str, str]]:
    return [(name, url) for name, cases in _cases(seed, daily).items() for url, _ in cases]


def test_no_report_url_without_the_second_factor(client, seed, daily):
    agent = make_agent(region_code="84")
    client.force_login(agent)  # a password login that skipped the TOTP step (no authenticator yet)
    for name, url in _all_urls(seed, daily):
        response = _get(client, name, url, {})
        assert response.status_code == 302, url
        assert response["Location"] == "/accounts/2fa/totp/activate/", url
    assert not ReportSubscription.objects.exists()


def test_no_report_url_when_the_session_skipped_the_totp_code(client, seed, daily):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    agent = make_agent(region_code="84")
    TOTP.activate(agent, generate_totp_secret())
    client.force_login(agent)
    for name, url in _all_urls(seed, daily):
        response = _get(client, name, url, {})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/2fa/reauthenticate/"), url


def test_anonymous_visitors_go_to_the_agents_login(client, seed, daily):
    for name, url in _all_urls(seed, daily):
        response = _get(client, name, url, {})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("staff_login")), url


def test_pharmacy_accounts_and_staff_without_the_reporting_permission_get_403(client, client_a, seed, daily):
    for name, url in _all_urls(seed, daily):
        assert _get(client_a, name, url, {}).status_code == 403, url
    staff = make_agent(role="Support niveau 1")
    staff.groups.set([Group.objects.create(name="Sans droits")])
    login_agent(client, staff)
    for name, url in _all_urls(seed, daily):
        assert _get(client, name, url, {}).status_code == 403, url


def test_a_daily_report_older_than_90_days_is_not_served_even_before_the_purge(client, seed, ars_ara):
    old_day = timezone.localdate() - timedelta(days=91)
    report, _ = daily_report_generate(day=old_day, region=factories.region("84"), at=timezone.now())
    login_agent(client, ars_ara)
    assert client.get(reverse("reports:daily_download", args=[report.pk, "csv"])).status_code == 404
