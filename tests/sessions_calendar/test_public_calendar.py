"""The published calendar ("Calendrier d'ouverture") and its ICS feed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.urls import reverse
from icalendar import Calendar

from sessions_calendar.formatting import day_range
from sessions_calendar.services import CalendarSpec, calendar_generate
from tests import factories
from vaccine_orders.audit.actors import Actor

from .helpers import make_session, paris

pytestmark = pytest.mark.django_db
NOW = datetime(2023, 7, 20, 10, 0, tzinfo=UTC)


def test_french_date_ranges_follow_seed_004():
    assert day_range(date(2023, 7, 17), date(2023, 7, 18)) == "17-18 juillet"
    assert day_range(date(2023, 7, 31), date(2023, 8, 1)) == "31 juillet – 1er août"
    assert day_range(date(2023, 8, 1), date(2023, 8, 2)) == "1er-2 août"
    assert day_range(date(2023, 12, 31), date(2024, 1, 1)) == "31 décembre 2023 – 1er janvier 2024"
    assert day_range(date(2023, 7, 17), date(2023, 7, 17), year=True) == "17 juillet 2023"


@time_machine.travel(NOW, tick=False)
def test_the_page_is_public_and_lists_recent_and_coming_weeks(client):
    make_session(date(2023, 6, 12))  # more than four weeks ago: only in the archives
    make_session(date(2023, 7, 17), holiday_note="Exemple de jour férié")
    make_session(date(2023, 7, 31), closed_week=True)
    make_session(date(2023, 8, 7), pilot_group=factories.PilotGroupFactory())
    response = client.get(reverse("sessions_calendar:calendar"))
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    assert soup.select_one("h1").get_text() == "Calendrier d'ouverture"
    rows = soup.select("#calendrier-2023 tbody tr")
    assert [r.select_one(".sc-dates").get_text() for r in rows] == [
        "17-18 juillet",
        "31 juillet – 1er août",
        "7-8 août",
    ]
    assert "lundi 8 h – mardi 23 h" in rows[0].get_text()
    assert "Exemple de jour férié" in rows[0].get_text()
    assert rows[1].select_one(".sc-state").get_text() == "Fermé"
    assert "Officines pilotes" in rows[2].get_text()
    archives = BeautifulSoup(
        client.get(reverse("sessions_calendar:calendar"), {"annee": "2023"}).content, "html.parser"
    )
    assert len(archives.select("#calendrier-2023 tbody tr")) == 4


@time_machine.travel(NOW, tick=False)
def test_the_page_reads_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    calendar_generate(
        spec=CalendarSpec(
            first_week=date(2023, 7, 17), last_week=date(2024, 7, 15), pilot_group_id=factories.PilotGroupFactory().pk
        ),
        actor=Actor.system(),
    )
    with django_assert_max_num_queries(6):
        response = client.get(reverse("sessions_calendar:calendar"))
    assert len(BeautifulSoup(response.content, "html.parser").select("tbody tr")) == 53


def test_the_calendar_is_in_the_public_navigation(client):
    soup = BeautifulSoup(client.get(reverse("home")).content, "html.parser")
    links = {a.get_text(strip=True): a["href"] for a in soup.select("#fr-navigation a")}
    assert links["Calendrier d'ouverture"] == reverse("sessions_calendar:calendar")


def test_an_officine_sees_the_link_to_its_reminder_preference(client_a):
    response = client_a.get(reverse("sessions_calendar:calendar"))
    assert reverse("sessions_calendar:reminders") in response.content.decode()


@time_machine.travel(NOW, tick=False)
def test_the_ics_feed_parses_back_and_shows_sessions_closed_weeks_and_deliveries(client):
    calendar_generate(
        spec=CalendarSpec(
            first_week=date(2023, 7, 17), last_week=date(2023, 10, 30), closed_weeks=frozenset({date(2023, 7, 31)})
        ),
        actor=Actor.system(),
    )
    response = client.get(reverse("sessions_calendar:calendar_ics"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    events = calendar.walk("VEVENT")
    assert len({str(e["uid"]) for e in events}) == len(events)  # stable, unique UIDs
    sessions = [e for e in events if str(e["summary"]) == "Session de commande de vaccins"]
    deliveries = [e for e in events if str(e["summary"]).startswith("Livraison indicative")]
    closed = [e for e in events if str(e["summary"]) == "Portail de commande fermé"]
    assert (len(sessions), len(deliveries), len(closed)) == (15, 15, 1)

    first = min(sessions, key=lambda e: e.decoded("dtstart"))
    assert first.decoded("dtstart") == paris(date(2023, 7, 17), 8)
    assert first.decoded("dtend") == paris(date(2023, 7, 18), 23)
    assert first["dtstart"].params["TZID"] == "Europe/Paris"
    assert "Livraison indicative : 27-28 juillet" in str(first["description"])
    # After the October change, a Monday session still opens at 08:00 Paris time.
    last = max(sessions, key=lambda e: e.decoded("dtstart"))
    assert last.decoded("dtstart").astimezone(UTC) == datetime(2023, 10, 30, 7, 0, tzinfo=UTC)
    delivery = min(deliveries, key=lambda e: e.decoded("dtstart"))
    assert (delivery.decoded("dtstart"), delivery.decoded("dtend")) == (date(2023, 7, 27), date(2023, 7, 29))
    assert str(delivery["summary"]) == "Livraison indicative (commandes du 17-18 juillet)"
    assert closed[0].decoded("dtstart") == date(2023, 7, 31)


def test_the_ics_feed_of_an_empty_calendar_is_still_valid(client):
    calendar = Calendar.from_ical(client.get(reverse("sessions_calendar:calendar_ics")).content)
    assert calendar.walk("VEVENT") == []


def test_sessions_older_than_a_year_leave_the_feed(client):
    make_session(date(2020, 1, 6))
    calendar = Calendar.from_ical(client.get(reverse("sessions_calendar:calendar_ics")).content)
    assert calendar.walk("VEVENT") == []
