"""Actualités (home page, news page) and the banners of every page: urgent news, maintenance, PSC."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from tests import factories
from vaccine_orders.portal.models import ServiceSettings
from vaccine_orders.portal.selectors import (
    DEFAULT_READ_ONLY_MESSAGE,
    banners_current,
    service_read_only_message,
)

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["/", "/actualites/", "/aide/", "/support/"]


def soup(response):
    return BeautifulSoup(response.content, "html.parser")


def banner_titles(response) -> list[str]:
    return [n.get_text(strip=True) for n in soup(response).select(".cv-banners .fr-notice__title")]


def test_news_in_publication_are_on_the_home_page_and_the_news_page(client):
    now = timezone.now()
    current = factories.NewsItemFactory(title="Session des 7 et 8 mars")
    factories.NewsItemFactory(title="Pas encore publiée", starts_at=now + timedelta(days=1), ends_at=None)
    factories.NewsItemFactory(title="Plus publiée", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1))
    endless = factories.NewsItemFactory(title="Sans fin", ends_at=None)
    for url in ("/", reverse("news")):
        text = soup(client.get(url)).select_one("main").get_text()
        assert current.title in text
        assert endless.title in text
        assert "Pas encore publiée" not in text
        assert "Plus publiée" not in text


def test_the_news_page_is_public_and_paginated(client, django_assert_max_num_queries):
    for n in range(12):
        factories.NewsItemFactory(title=f"Actualité numéro {n}", starts_at=timezone.now() - timedelta(hours=n + 1))
    with django_assert_max_num_queries(6):
        first = client.get(reverse("news"))
    assert first.status_code == 200
    assert len(soup(first).select("main article")) == 10
    second = client.get(reverse("news"), {"page": 2})
    assert len(soup(second).select("main article")) == 2


def test_an_urgent_news_is_a_banner_on_every_page(client, client_a):
    urgent = factories.NewsItemFactory(title="Rupture de Moderna", is_urgent=True)
    factories.NewsItemFactory(title="Information ordinaire")
    factories.NewsItemFactory(
        title="Urgence passée",
        is_urgent=True,
        starts_at=timezone.now() - timedelta(days=5),
        ends_at=timezone.now() - timedelta(days=1),
    )
    for url in PUBLIC_PAGES:
        titles = banner_titles(client.get(url))
        assert titles == [urgent.title], url
    assert banner_titles(client_a.get(reverse("support_my_requests"))) == [urgent.title]
    link = soup(client.get("/")).select_one(".cv-urgent-news a")["href"]
    assert link == f"{reverse('news')}#actualite-{urgent.pk}"


def test_no_banner_without_urgent_news_or_switches(client):
    factories.NewsItemFactory()
    assert soup(client.get("/")).select_one(".cv-banners") is None


def test_all_banners_cost_one_query(django_assert_num_queries):
    factories.NewsItemFactory(title="Urgente 1", is_urgent=True)
    factories.NewsItemFactory(title="Urgente 2", is_urgent=True, starts_at=timezone.now() - timedelta(hours=2))
    ServiceSettings.objects.create(pk=1, read_only=True, psc_unavailable=True)
    with django_assert_num_queries(1):
        banners = banners_current(at=timezone.now())
    assert [n.title for n in banners.urgent_news] == ["Urgente 2", "Urgente 1"]  # newest first
    assert banners.read_only_message == DEFAULT_READ_ONLY_MESSAGE
    assert banners.psc_unavailable_message


def test_the_banners_template_runs_one_query_per_page_and_none_when_not_shown(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    from vaccine_orders.portal.context_processors import site

    factories.NewsItemFactory(is_urgent=True)
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    context = site(request)
    with django_assert_num_queries(0):
        Template("{{ SERVICE_NAME }}").render(Context(context))  # the admin, e-mails: nothing read
    template = Template('{% include "includes/banners.html" %}{% include "includes/banners.html" %}')
    with django_assert_num_queries(1):
        template.render(Context({**context, "user": request.user}))


def test_read_only_mode_shows_the_maintenance_message_on_every_page(client, client_a):
    ServiceSettings.objects.create(pk=1, read_only=True, read_only_message="Maintenance jusqu'à 14 h.")
    for url in PUBLIC_PAGES:
        page = soup(client.get(url))
        assert "Maintenance jusqu'à 14 h." in page.select_one("#bandeau-maintenance").get_text(), url
    assert client_a.get(reverse("support_my_requests")).status_code == 200  # everything stays readable
    assert "Maintenance jusqu'à 14 h." in soup(client_a.get("/")).select_one("#bandeau-maintenance").get_text()


def test_service_read_only_message_is_what_the_ordering_service_checks(django_assert_num_queries):
    assert service_read_only_message() is None  # no settings row yet
    settings_row = ServiceSettings.load()
    assert service_read_only_message() is None
    settings_row.read_only = True
    settings_row.read_only_message = "Maintenance jusqu'à 14 h."
    settings_row.save()
    with django_assert_num_queries(1):
        assert service_read_only_message() == "Maintenance jusqu'à 14 h."
    settings_row.read_only_message = "   "
    settings_row.save()
    assert service_read_only_message() == DEFAULT_READ_ONLY_MESSAGE  # never an empty refusal
    settings_row.read_only = False
    settings_row.save()
    assert service_read_only_message() is None


def test_the_psc_banner_speaks_to_people_who_are_not_logged_in(client, client_a):
    ServiceSettings.objects.create(pk=1, psc_unavailable=True)
    assert soup(client_a.get("/")).select_one("#bandeau-psc") is None
    client.logout()
    assert "code reçu par e-mail" in soup(client.get("/")).select_one("#bandeau-psc").get_text()


def test_switching_maintenance_in_the_admin_is_journaled(client):
    from tests.portal.conftest import login_agent
    from vaccine_orders.audit.models import AuditEvent

    admin_user = factories.StaffUserFactory(is_superuser=True)
    ServiceSettings.load()
    login_agent(client, admin_user)
    response = client.post(
        reverse("admin:portal_servicesettings_change", args=[1]),
        {
            "read_only": "on",
            "read_only_message": "Maintenance ce soir.",
            "psc_unavailable_message": "PSC indisponible.",
            "pilot_group": "",
        },
    )
    assert response.status_code == 302
    assert service_read_only_message() == "Maintenance ce soir."
    event = AuditEvent.objects.get(action="service_settings.changed")
    assert event.actor == admin_user
    assert event.before["read_only"] is False
    assert event.after["read_only"] is True
