"""Guards on sessions: no overlap (service message, and PostgreSQL's exclusion constraint under a real race),
closing after opening, no change to a closed session's window or rules."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from sessions_calendar.errors import SessionError
from sessions_calendar.models import OrderSession
from sessions_calendar.rules import Cell, ProductRules
from sessions_calendar.services import calendar as calendar_services
from sessions_calendar.services import session_rules_save, session_save
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent

from .helpers import make_session, paris

ACTOR = Actor.system("Test")
NOW = datetime(2023, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_an_overlapping_session_is_refused_with_a_clear_french_message():
    make_session(date(2023, 7, 17))
    overlapping = OrderSession(opens_at=paris(date(2023, 7, 18), 9), closes_at=paris(date(2023, 7, 19), 23))
    with pytest.raises(SessionError) as error:
        session_save(session=overlapping, actor=ACTOR)
    (message,) = error.value.field_errors["opens_at"]
    assert message.startswith("Cette période chevauche la session du 17 juillet 2023 au 18 juillet 2023")
    assert "lundi 17 juillet 2023 à 8 h → mardi 18 juillet 2023 à 23 h" in message
    assert OrderSession.objects.count() == 1


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_back_to_back_sessions_do_not_overlap():
    first = make_session(date(2023, 7, 17))
    following = OrderSession(opens_at=first.closes_at, closes_at=first.closes_at + timedelta(days=1))
    session_save(session=following, actor=ACTOR)
    assert OrderSession.objects.count() == 2


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_closing_before_opening_is_refused():
    session = OrderSession(opens_at=paris(date(2023, 7, 18), 23), closes_at=paris(date(2023, 7, 17), 8))
    with pytest.raises(SessionError) as error:
        session_save(session=session, actor=ACTOR)
    assert error.value.field_errors["closes_at"] == [
        "La fermeture (lundi 17 juillet 2023 à 8 h) doit être postérieure à l'ouverture (mardi 18 juillet 2023 à 23 h)."
    ]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_confirmations_before_closing_and_delivery_backwards_are_refused():
    session = OrderSession(
        opens_at=paris(date(2023, 7, 17), 8),
        closes_at=paris(date(2023, 7, 18), 23),
        confirmation_published_at=paris(date(2023, 7, 18), 18),
        delivery_start=date(2023, 7, 28),
        delivery_end=date(2023, 7, 27),
    )
    with pytest.raises(SessionError) as error:
        session_save(session=session, actor=ACTOR)
    assert set(error.value.field_errors) == {"confirmation_published_at", "delivery_end"}


@pytest.mark.django_db
def test_the_window_of_a_closed_session_cannot_change_but_its_delivery_dates_can():
    session = make_session(date(2023, 7, 17))
    session.opens_at += timedelta(hours=1)
    with pytest.raises(SessionError, match="est close depuis le mardi 18 juillet 2023 à 23 h"):
        session_save(session=session, actor=ACTOR)
    session.refresh_from_db()
    session.delivery_end = date(2023, 7, 31)
    session_save(session=session, actor=ACTOR)
    event = AuditEvent.objects.get(action="session.update")
    assert event.before["delivery_end"] == "2023-07-28" and event.after["delivery_end"] == "2023-07-31"


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_session_with_orders_cannot_become_a_closed_week(pharmacy_a):
    session = make_session(date(2023, 7, 17))
    factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    session.is_closed_week = True
    with pytest.raises(SessionError) as error:
        session_save(session=session, actor=ACTOR)
    assert "Des officines ont déjà commandé" in error.value.field_errors["is_closed_week"][0]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_admin_change_form_shows_the_overlap_next_to_the_field(admin_client):
    make_session(date(2023, 7, 17))
    response = admin_client.post(
        reverse("admin:sessions_calendar_ordersession_add"),
        {
            "opens_at_0": "18/07/2023",
            "opens_at_1": "09:00",
            "closes_at_0": "19/07/2023",
            "closes_at_1": "23:00",
            "holiday_note": "",
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "Cette période chevauche la session du 17 juillet 2023" in response.content.decode()
    assert OrderSession.objects.count() == 1


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_session_added_in_the_admin_is_audited(admin_client):
    response = admin_client.post(
        reverse("admin:sessions_calendar_ordersession_add"),
        {
            "opens_at_0": "17/07/2023",
            "opens_at_1": "08:00",
            "closes_at_0": "18/07/2023",
            "closes_at_1": "23:00",
            "holiday_note": "",
            "notes": "",
        },
    )
    assert response.status_code == 302
    session = OrderSession.objects.get()
    assert session.opens_at == datetime(2023, 7, 17, 6, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="session.create", target_id=str(session.pk)).exists()


@pytest.mark.django_db
def test_the_rules_of_a_closed_session_cannot_change(catalogue, types):
    session = make_session(date(2023, 7, 17))
    rules = {catalogue["moderna"].pk: ProductRules(is_open=True, cells={(types["doctor"].pk, 0): Cell("unlimited")})}
    with pytest.raises(SessionError) as error:
        session_rules_save(session=session, rules=rules, actor=ACTOR)
    assert error.value.message == (
        "La session du 17-18 juillet 2023 est close depuis le mardi 18 juillet 2023 à 23 h : ses règles ne peuvent "
        "plus être modifiées (les commandes sont en cours de confirmation)."
    )
    assert not session.offers.exists()


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_closed_week_cannot_have_rules(catalogue, types):
    session = make_session(date(2023, 7, 31), closed_week=True)
    rules = {catalogue["moderna"].pk: ProductRules(is_open=True, cells={(types["doctor"].pk, 0): Cell("unlimited")})}
    with pytest.raises(SessionError, match="est fermée à la commande : aucun produit ne peut y être ouvert"):
        session_rules_save(session=session, rules=rules, actor=ACTOR)


# --- PostgreSQL: the exclusion constraint settles the race ----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_overlapping_rows_even_without_the_service():
    make_session(date(2023, 7, 17))
    with pytest.raises(IntegrityError, match="session_no_overlap"), transaction.atomic():
        OrderSession.objects.create(opens_at=paris(date(2023, 7, 18), 9), closes_at=paris(date(2023, 7, 19), 23))


def _race_two_overlapping_saves(monkeypatch) -> list[object]:
    """Two staff members save overlapping sessions at the same instant: both pass the service's check
    (a barrier holds them just after it), then both write."""
    barrier = threading.Barrier(2, timeout=30)
    original_check = calendar_services.session_check

    def check_then_wait(**kwargs):
        original_check(**kwargs)
        barrier.wait()

    monkeypatch.setattr(calendar_services, "session_check", check_then_wait)
    outcomes: list[object] = []

    def save(hour: int) -> None:
        try:
            with connection.cursor() as cursor:
                # The loser waits for the winner's commit; on a loaded test machine that can exceed the
                # production lock_timeout, which is not what this test is about.
                cursor.execute("SET lock_timeout = '30s'")
            session = OrderSession(opens_at=paris(date(2023, 7, 17), hour), closes_at=paris(date(2023, 7, 18), 23))
            outcomes.append(session_save(session=session, actor=ACTOR))
        except Exception as exc:  # the outcome is what the test looks at
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(hour,)) for hour in (8, 9)]
    with time_machine.travel(NOW, tick=True):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_overlapping_saves_leave_exactly_one_session(monkeypatch):
    outcomes = _race_two_overlapping_saves(monkeypatch)
    assert OrderSession.objects.count() == 1, outcomes
    errors = [o for o in outcomes if isinstance(o, SessionError)]
    assert len(errors) == 1, outcomes
    assert errors[0].message.startswith("Une autre session vient d'être enregistrée sur cette période")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_control_without_the_exclusion_constraint_the_race_creates_two_overlapping_sessions(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sessions_calendar_ordersession DROP CONSTRAINT session_no_overlap")
    try:
        outcomes = _race_two_overlapping_saves(monkeypatch)
        assert all(isinstance(o, OrderSession) for o in outcomes), outcomes
        assert OrderSession.objects.count() == 2  # the service's check alone cannot see the other transaction
    finally:
        OrderSession.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE sessions_calendar_ordersession ADD CONSTRAINT session_no_overlap "
                "EXCLUDE USING gist (tstzrange(opens_at, closes_at, '[)') WITH &&)"
            )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_deadlock_between_two_exclusion_checks_becomes_the_french_race_message():
    """Each transaction holds a session the other's new row overlaps: both exclusion checks wait on each other,
    PostgreSQL aborts one as a deadlock, and its author reads the same message as a lost race."""
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[str, object] = {}

    def staff(name: str, own_week: date, overlapping_day: date) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '30s'")
            with transaction.atomic():
                make_session(own_week)
                barrier.wait()
                try:
                    session = OrderSession(
                        opens_at=paris(overlapping_day, 9), closes_at=paris(overlapping_day + timedelta(days=1), 23)
                    )
                    outcomes[name] = session_save(session=session, actor=ACTOR)
                except Exception as exc:  # the outcome is what the test looks at
                    outcomes[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=staff, args=("a", date(2023, 7, 17), date(2023, 7, 25))),
        threading.Thread(target=staff, args=("b", date(2023, 7, 24), date(2023, 7, 18))),
    ]
    with time_machine.travel(NOW, tick=True):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert set(outcomes) == {"a", "b"}, outcomes
    assert all(isinstance(o, SessionError) for o in outcomes.values()), outcomes
    assert all(o.message.startswith("Une autre session vient d'être enregistrée") for o in outcomes.values())
    assert OrderSession.objects.count() == 2  # each kept its own week, neither overlapping row survived
