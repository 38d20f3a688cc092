"""Calendar generation: seed 004's summer 2023 table, daylight-saving changes, public holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from sessions_calendar.errors import SessionError
from sessions_calendar.models import OrderSession
from sessions_calendar.selectors import published_calendar
from sessions_calendar.services import CalendarSpec, HolidayPolicy, Rhythm, calendar_generate, calendar_plan
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent

from .helpers import make_session, paris

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("Test")

# Seed 004 (DGS-Urgent 2023-11), "Calendrier d'ouverture du portail de commande et livraisons indicatives".
SEED_004 = [
    ("17-18 juillet", "Ouvert", "27-28 juillet"),
    ("24-25 juillet", "Ouvert", "3-4 août"),
    ("31 juillet – 1er août", "Fermé", ""),
    ("7-8 août", "Ouvert", "17-18 août"),
    ("14-15 août", "Fermé", ""),
    ("21-22 août", "Ouvert", "31 août – 1er septembre"),
    ("28-29 août", "Fermé", ""),
    ("4-5 septembre", "Ouvert", "14-15 septembre"),
    ("11-12 septembre", "Fermé", ""),
    ("18-19 septembre", "Ouvert", "28-29 septembre"),
    ("25-26 septembre", "Fermé", ""),
    ("2-3 octobre", "Ouvert", "12-13 octobre"),
    ("9-10 octobre", "Ouvert", "19-20 octobre"),
]
SUMMER_CLOSED_WEEKS = frozenset(
    {date(2023, 7, 31), date(2023, 8, 14), date(2023, 8, 28), date(2023, 9, 11), date(2023, 9, 25)}
)


def _table() -> list[tuple[str, str, str]]:
    rows = published_calendar(since=paris(date(2023, 7, 1)), until=paris(date(2023, 11, 1)))
    return [(row.dates, row.state, row.delivery) for row in rows]


def test_weekly_generation_with_closed_weeks_reproduces_seed_004_exactly():
    sessions = calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 7, 17), last_week=date(2023, 10, 9), closed_weeks=SUMMER_CLOSED_WEEKS),
        actor=ACTOR,
    )
    assert len(sessions) == 13
    assert _table() == SEED_004
    for session in sessions:
        opens, closes = timezone.localtime(session.opens_at), timezone.localtime(session.closes_at)
        assert (opens.weekday(), opens.time()) == (0, time(8))
        assert (closes.weekday(), closes.time()) == (1, time(23))
        if session.is_closed_week:
            assert session.confirmation_published_at is None and session.delivery_start is None
        else:
            confirmation = timezone.localtime(session.confirmation_published_at)
            assert (confirmation.weekday(), confirmation.time()) == (2, time(18))  # Wednesday 18:00
            assert session.delivery_start == opens.date() + timedelta(days=10)  # J+10


def test_the_bimonthly_rhythm_reproduces_seed_004_in_three_runs():
    """Weekly for 17 July, one week in two from 24 July ("fermé lors de la session des 31 juillet et 1er
    août"), weekly again from 2 October: the off weeks become closed weeks."""
    calendar_generate(spec=CalendarSpec(first_week=date(2023, 7, 17), last_week=date(2023, 7, 17)), actor=ACTOR)
    calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 7, 24), last_week=date(2023, 9, 25), rhythm=Rhythm.BIWEEKLY),
        actor=ACTOR,
    )
    calendar_generate(spec=CalendarSpec(first_week=date(2023, 10, 2), last_week=date(2023, 10, 9)), actor=ACTOR)
    assert _table() == SEED_004


def test_generating_through_the_admin_then_reading_the_public_page_gives_seed_004(admin_client, client):
    url = reverse("admin:sessions_calendar_ordersession_generate")
    data = {
        "first_week": "2023-07-17",
        "last_week": "2023-10-09",
        "rhythm": "weekly",
        "closed_weeks": "31/07/2023\n14/08/2023\n28/08/2023\n11/09/2023\n25/09/2023",
        "opening_weekday": "0",
        "opening_time": "08:00",
        "closing_after_days": "1",
        "closing_time": "23:00",
        "confirmation_after_days": "1",
        "confirmation_time": "18:00",
        "delivery_start_after_days": "10",
        "delivery_end_after_days": "11",
        "holiday_policy": "shift",
        "pilot_group": "",
    }
    preview = admin_client.post(url, {**data, "action": "preview"})
    assert preview.status_code == 200
    assert "Créer les 13 sessions" in preview.content.decode()
    assert OrderSession.objects.count() == 0  # the preview writes nothing

    created = admin_client.post(url, {**data, "action": "create"})
    assert created.status_code == 302
    assert OrderSession.objects.count() == 13
    assert AuditEvent.objects.filter(action="session.generate").count() == 13

    page = client.get(reverse("sessions_calendar:calendar"), {"annee": "2023"})
    soup = BeautifulSoup(page.content, "html.parser")
    rows = [
        (
            tr.select_one(".sc-dates").get_text(strip=True),
            tr.select_one(".sc-state").get_text(strip=True),
            tr.select_one(".sc-delivery").get_text(strip=True),
        )
        for tr in soup.select("#calendrier-2023 tbody tr")
    ]
    assert rows == SEED_004


def test_an_existing_session_in_the_period_blocks_the_whole_generation():
    make_session(date(2023, 8, 7))
    with pytest.raises(SessionError, match="Aucune session n'a été créée") as error:
        calendar_generate(spec=CalendarSpec(first_week=date(2023, 7, 31), last_week=date(2023, 8, 21)), actor=ACTOR)
    assert any("chevauche" in message and "7 août 2023" in message for message in error.value.errors)
    assert OrderSession.objects.count() == 1


def test_the_preview_names_the_conflicting_weeks_without_writing():
    make_session(date(2023, 8, 7))
    plan = calendar_plan(spec=CalendarSpec(first_week=date(2023, 7, 31), last_week=date(2023, 8, 21)))
    assert [bool(item.conflicts) for item in plan] == [False, True, False, False]
    assert OrderSession.objects.count() == 1


@pytest.mark.parametrize(
    ("spec_changes", "field", "message"),
    [
        ({"last_week": date(2023, 7, 10)}, "last_week", "doit suivre la première"),
        ({"closed_weeks": frozenset({date(2023, 12, 4)})}, "closed_weeks", "en dehors de la période"),
        ({"closing_after_days": 0, "closing_time": time(7)}, "closing_after_days", "postérieure à l'ouverture"),
        ({"delivery_start_after_days": 1}, "delivery_start_after_days", "commencer après la fermeture"),
        ({"delivery_end_after_days": 9}, "delivery_end_after_days", "précède son début"),
        ({"last_week": date(2026, 7, 17)}, "last_week", "Au plus 104 semaines"),
    ],
)
def test_contradictory_generation_parameters_are_refused_field_by_field(spec_changes, field, message):
    spec = CalendarSpec(**{"first_week": date(2023, 7, 17), "last_week": date(2023, 10, 9), **spec_changes})
    with pytest.raises(SessionError) as error:
        calendar_plan(spec=spec)
    assert any(message in m for m in error.value.field_errors[field])


def test_the_generation_form_shows_french_errors(admin_client):
    response = admin_client.post(
        reverse("admin:sessions_calendar_ordersession_generate"),
        {"first_week": "2023-07-17", "last_week": "2023-07-10", "closed_weeks": "31/31/2023", "action": "preview"},
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "Dates illisibles : 31/31/2023" in content
    assert OrderSession.objects.count() == 0


# --- daylight saving (Europe/Paris) ----------------------------------------------------------------


def test_weekly_sessions_keep_8_am_paris_on_both_sides_of_the_october_change():
    sessions = calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 10, 23), last_week=date(2023, 10, 30)), actor=ACTOR
    )
    before, after = sorted(sessions, key=lambda s: s.opens_at)
    assert before.opens_at == datetime(2023, 10, 23, 6, 0, tzinfo=UTC)  # summer time, UTC+2
    assert after.opens_at == datetime(2023, 10, 30, 7, 0, tzinfo=UTC)  # winter time, UTC+1
    assert after.closes_at == datetime(2023, 10, 31, 22, 0, tzinfo=UTC)
    assert timezone.localtime(after.opens_at).time() == time(8)
    assert after.opens_at - before.opens_at == timedelta(days=7, hours=1)  # not a fixed 168 h step


def test_a_session_across_the_october_change_opens_and_closes_at_the_right_local_instants():
    """Friday 27 October 2023 08:00 (CEST) to Tuesday 31 October 23:00 (CET): the clocks go back on
    Sunday 29 October at 03:00, so the window lasts one hour more than its wall-clock span."""
    (session,) = calendar_generate(
        spec=CalendarSpec(
            first_week=date(2023, 10, 23),
            last_week=date(2023, 10, 23),
            opening_weekday=4,
            closing_after_days=4,
            confirmation_after_days=1,
            delivery_start_after_days=13,
            delivery_end_after_days=14,
        ),
        actor=ACTOR,
    )
    assert session.opens_at == datetime(2023, 10, 27, 6, 0, tzinfo=UTC)
    assert session.closes_at == datetime(2023, 10, 31, 22, 0, tzinfo=UTC)
    assert session.closes_at - session.opens_at == timedelta(days=4, hours=16)  # 4 d 15 h of wall clock + 1 h
    assert timezone.localtime(session.opens_at).strftime("%a %H:%M %Z") == "Fri 08:00 CEST"
    assert timezone.localtime(session.closes_at).strftime("%a %H:%M %Z") == "Tue 23:00 CET"
    one_second = timedelta(seconds=1)
    assert not session.is_open_at(session.opens_at - one_second)
    assert session.is_open_at(session.opens_at)
    assert session.is_open_at(datetime(2023, 10, 29, 0, 30, tzinfo=UTC))  # 02:30 CEST, before the change
    assert session.is_open_at(datetime(2023, 10, 29, 1, 30, tzinfo=UTC))  # 02:30 CET, after it
    assert session.is_open_at(session.closes_at - one_second)
    assert not session.is_open_at(session.closes_at)


def test_weekly_sessions_keep_8_am_paris_across_the_march_change():
    sessions = calendar_generate(
        spec=CalendarSpec(first_week=date(2024, 3, 25), last_week=date(2024, 4, 8)), actor=ACTOR
    )
    # 25 March 2024 is before the change (31 March); 1 April is Easter Monday, shifted to Tuesday.
    opens = [s.opens_at for s in sorted(sessions, key=lambda s: s.opens_at)]
    assert opens == [
        datetime(2024, 3, 25, 7, 0, tzinfo=UTC),
        datetime(2024, 4, 2, 6, 0, tzinfo=UTC),
        datetime(2024, 4, 8, 6, 0, tzinfo=UTC),
    ]


@time_machine.travel(datetime(2023, 10, 1, 12, 0, tzinfo=UTC), tick=False)
def test_editing_a_session_in_the_admin_keeps_paris_wall_clock_after_the_change(admin_client):
    session = make_session(date(2023, 10, 23))
    url = reverse("admin:sessions_calendar_ordersession_change", args=[session.pk])
    response = admin_client.post(
        url,
        {
            "opens_at_0": "2023-10-30",
            "opens_at_1": "08:00:00",
            "closes_at_0": "2023-10-31",
            "closes_at_1": "23:00:00",
            "confirmation_published_at_0": "2023-11-01",
            "confirmation_published_at_1": "18:00:00",
            "delivery_start": "2023-11-09",
            "delivery_end": "2023-11-10",
            "holiday_note": "",
            "notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    session.refresh_from_db()
    assert session.opens_at == datetime(2023, 10, 30, 7, 0, tzinfo=UTC)
    assert session.closes_at == datetime(2023, 10, 31, 22, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="session.update", target_id=str(session.pk)).exists()


# --- public holidays -------------------------------------------------------------------------------


def test_a_whit_monday_session_opens_on_tuesday_when_shifting():
    (session,) = calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 5, 29), last_week=date(2023, 5, 29)), actor=ACTOR
    )
    assert session.opens_at == paris(date(2023, 5, 30), 8)
    assert session.closes_at == paris(date(2023, 5, 31), 23)
    assert session.confirmation_published_at == paris(date(2023, 6, 1), 18)
    # Deliveries follow the one-day shift, on weekdays: Friday 9 June to Monday 12 June.
    assert (session.delivery_start, session.delivery_end) == (date(2023, 6, 9), date(2023, 6, 12))
    assert "Lundi de Pentecôte (29 mai) : ouverture décalée au mardi 30 mai" in session.holiday_note


def test_a_tuesday_holiday_postpones_the_closing_to_wednesday():
    (session,) = calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 8, 14), last_week=date(2023, 8, 14)), actor=ACTOR
    )
    assert session.opens_at == paris(date(2023, 8, 14), 8)
    assert session.closes_at == paris(date(2023, 8, 16), 23)
    assert session.confirmation_published_at == paris(date(2023, 8, 17), 18)
    assert (session.delivery_start, session.delivery_end) == (date(2023, 8, 24), date(2023, 8, 25))
    assert "Assomption (15 août) : fermeture reportée au mercredi 16 août" in session.holiday_note


def test_holidays_on_the_confirmation_and_delivery_days_move_them():
    """Week of 29 April 2024: Wednesday 1 May (confirmations) and Thursday 9 May, Ascension (delivery)."""
    (session,) = calendar_generate(
        spec=CalendarSpec(first_week=date(2024, 4, 29), last_week=date(2024, 4, 29)), actor=ACTOR
    )
    assert (session.opens_at, session.closes_at) == (paris(date(2024, 4, 29), 8), paris(date(2024, 4, 30), 23))
    assert session.confirmation_published_at == paris(date(2024, 5, 2), 18)
    assert (session.delivery_start, session.delivery_end) == (date(2024, 5, 10), date(2024, 5, 10))
    assert "Fête du Travail" in session.holiday_note
    assert "Ascension (9 mai) : livraison indicative décalée" in session.holiday_note


def test_the_flag_policy_keeps_the_dates_and_says_why():
    (session,) = calendar_generate(
        spec=CalendarSpec(first_week=date(2023, 5, 29), last_week=date(2023, 5, 29), holiday_policy=HolidayPolicy.FLAG),
        actor=ACTOR,
    )
    assert session.opens_at == paris(date(2023, 5, 29), 8)
    assert "Lundi de Pentecôte (lundi 29 mai) pendant la session" in session.holiday_note


def test_closed_weeks_are_neither_shifted_nor_flagged():
    (session,) = calendar_generate(
        spec=CalendarSpec(
            first_week=date(2023, 8, 14), last_week=date(2023, 8, 14), closed_weeks=frozenset({date(2023, 8, 15)})
        ),
        actor=ACTOR,
    )
    assert session.is_closed_week
    assert (session.opens_at, session.holiday_note) == (paris(date(2023, 8, 14), 8), "")


def test_a_generated_pilot_calendar_restricts_open_sessions_only(db):
    from tests.factories import PilotGroupFactory

    group = PilotGroupFactory()
    sessions = calendar_generate(
        spec=CalendarSpec(
            first_week=date(2022, 2, 14),
            last_week=date(2022, 2, 28),
            rhythm=Rhythm.BIWEEKLY,
            pilot_group_id=group.pk,
        ),
        actor=ACTOR,
    )
    assert [(s.is_closed_week, s.pilot_group_id) for s in sorted(sessions, key=lambda s: s.opens_at)] == [
        (False, group.pk),
        (True, None),
        (False, group.pk),
    ]
