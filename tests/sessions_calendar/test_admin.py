"""The calendar's admin pages open, link to the custom views, and keep offers and caps read-only (they
change through the rules page only)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from sessions_calendar.models import CapRule, ProductOffer, SessionReminder
from tests import factories

from .helpers import make_session

pytestmark = pytest.mark.django_db


def test_the_session_changelist_offers_generation_and_rules(admin_client, django_assert_max_num_queries):
    for week in range(10):
        make_session(date(2023, 7, 3) + timedelta(weeks=week))
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:sessions_calendar_ordersession_changelist"))
    soup = BeautifulSoup(response.content, "html.parser")
    assert soup.find("a", string="Générer un calendrier")["href"] == reverse(
        "admin:sessions_calendar_ordersession_generate"
    )
    assert len(soup.find_all("a", string="Règles")) == 10


def test_the_generation_page_proposes_the_usual_defaults(admin_client):
    soup = BeautifulSoup(
        admin_client.get(reverse("admin:sessions_calendar_ordersession_generate")).content, "html.parser"
    )
    assert soup.select_one("#id_opening_weekday option[selected]").get_text() == "Lundi"
    assert soup.select_one("#id_opening_time")["value"] == "08:00"
    assert soup.select_one("#id_closing_time")["value"] == "23:00"
    assert soup.select_one("#id_confirmation_time")["value"] == "18:00"
    assert soup.select_one("#id_delivery_start_after_days")["value"] == "10"
    for field in soup.select("#content-main input:not([type=hidden]), #content-main select, #content-main textarea"):
        assert soup.select_one(f"label[for='{field['id']}']"), field


def test_the_session_change_form_links_to_its_rules_and_import(admin_client):
    session = make_session(date(2023, 7, 17))
    content = admin_client.get(reverse("admin:sessions_calendar_ordersession_change", args=[session.pk])).content
    soup = BeautifulSoup(content, "html.parser")
    rules = reverse("admin:sessions_calendar_ordersession_rules", args=[session.pk])
    assert soup.find("a", string="Règles de la session")["href"] == rules
    assert soup.find("a", string="Importer un tableau DGS")["href"] == reverse(
        "admin:sessions_calendar_ordersession_dgs", args=[session.pk]
    )


def test_offers_and_caps_are_read_only_in_the_admin(admin_client, catalogue):
    session = make_session(date(2023, 7, 17))
    offer = ProductOffer.objects.create(session=session, product=catalogue["janssen"])
    rule = CapRule.objects.create(offer=offer, effector_type=factories.effector_type("doctor"), mode="unlimited")
    for name, obj in (("productoffer", offer), ("caprule", rule)):
        assert admin_client.get(reverse(f"admin:sessions_calendar_{name}_changelist")).status_code == 200
        change = admin_client.get(reverse(f"admin:sessions_calendar_{name}_change", args=[obj.pk]))
        assert change.status_code == 200
        assert 'name="_save"' not in change.content.decode()
        assert admin_client.get(reverse(f"admin:sessions_calendar_{name}_add")).status_code == 403


def test_the_reminder_journal_lists_claims(admin_client, pharmacy_a):
    session = make_session(date(2023, 7, 17))
    SessionReminder.objects.create(session=session, pharmacy=pharmacy_a, email=pharmacy_a.email)
    response = admin_client.get(reverse("admin:sessions_calendar_sessionreminder_changelist"))
    assert response.status_code == 200
    assert "En cours d&#x27;envoi" in response.content.decode()
