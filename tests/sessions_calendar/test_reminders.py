"""The end-of-session reminder: who gets it, when, once per officine and session whatever the retries, and
each officine's way to turn it off."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from smtplib import SMTPException

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from accounts.models import Pharmacy
from sessions_calendar.models import SessionReminder
from sessions_calendar.selectors import reminder_sessions_due, reminder_targets
from sessions_calendar.services import reminder_unsubscribe_token, session_reminders_send
from sessions_calendar.tasks import session_reminders_dispatch
from tests import factories
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import Order
from vaccine_orders.portal.models import ScheduledJobRun

from .helpers import make_session, paris

pytestmark = pytest.mark.django_db

THIS_MONDAY = date(2023, 10, 2)
TUESDAY_3PM = paris(THIS_MONDAY + timedelta(days=1), 15)


class FailingBackend:
    """An e-mail backend whose server refuses everything (pretix's FailingEmailBackend)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages):
        raise SMTPException("421 service not available")


@pytest.fixture
def calendar():
    """Five earlier weekly sessions, a closed week, and this week's session (2-3 October 2023)."""
    earlier = [make_session(THIS_MONDAY - timedelta(weeks=n)) for n in (6, 5, 4, 3, 2)]
    make_session(THIS_MONDAY - timedelta(weeks=1), closed_week=True)
    current = make_session(THIS_MONDAY)
    return earlier, current


def ordered(pharmacy, session, status=Order.Status.REGISTERED):
    return factories.OrderFactory(pharmacy=pharmacy, session=session, status=status)


def test_targets_ordered_recently_and_not_yet_in_this_session(calendar):
    earlier, current = calendar
    recent, lapsed, already, disabled, no_email, cancelled_here, inactive = (
        factories.PharmacyFactory() for _ in range(7)
    )
    ordered(recent, earlier[1])  # within the last four sessions (closed weeks do not count)
    ordered(lapsed, earlier[0])  # the fifth session back: too old
    for pharmacy in (already, disabled, no_email, cancelled_here, inactive):
        ordered(pharmacy, earlier[4])
    ordered(already, current)
    ordered(cancelled_here, current, status=Order.Status.CANCELLED)  # cancelled: has not ordered
    Pharmacy.objects.filter(pk=disabled.pk).update(reminders_enabled=False)
    Pharmacy.objects.filter(pk=no_email.pk).update(email="")
    Pharmacy.objects.filter(pk=inactive.pk).update(is_active=False)
    assert set(reminder_targets(session=current)) == {recent, cancelled_here}


def test_a_pilot_session_reminds_its_group_only(calendar):
    earlier, current = calendar
    member, outsider = factories.PharmacyFactory(), factories.PharmacyFactory()
    for pharmacy in (member, outsider):
        ordered(pharmacy, earlier[4])
    group = factories.PilotGroupFactory()
    group.pharmacies.add(member)
    current.pilot_group = group
    current.save()
    assert list(reminder_targets(session=current)) == [member]


@pytest.mark.parametrize(
    ("instant", "due"),
    [
        (paris(THIS_MONDAY, 15), False),  # Monday afternoon: not the last day
        (paris(THIS_MONDAY + timedelta(days=1), 13, 59), False),
        (paris(THIS_MONDAY + timedelta(days=1), 14), True),
        (paris(THIS_MONDAY + timedelta(days=1), 22, 59), True),
        (paris(THIS_MONDAY + timedelta(days=1), 23), False),  # closed
    ],
)
def test_the_reminder_is_due_on_the_last_afternoon(calendar, instant, due):
    current = calendar[1]
    assert (current in reminder_sessions_due(now=instant)) is due


def test_the_last_afternoon_follows_each_session_s_closing_day(db):
    """A window closing on Wednesday (a holiday moved it) is reminded on Wednesday, not Tuesday."""
    session = make_session(
        THIS_MONDAY, closes_at=paris(THIS_MONDAY + timedelta(days=2), 23), confirmation_published_at=None
    )
    assert reminder_sessions_due(now=paris(THIS_MONDAY + timedelta(days=1), 15)) == []
    assert reminder_sessions_due(now=paris(THIS_MONDAY + timedelta(days=2), 15)) == [session]


def test_running_the_task_twice_sends_once(calendar, run_tasks):
    earlier, current = calendar
    targets = [factories.PharmacyFactory() for _ in range(3)]
    for pharmacy in targets:
        ordered(pharmacy, earlier[3])
    with time_machine.travel(TUESDAY_3PM, tick=False):
        session_reminders_dispatch.delay()
        session_reminders_dispatch.delay()  # beat doubled by a DST change, a redelivery, an extra run…
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in targets)
    assert SessionReminder.objects.filter(session=current, status=SessionReminder.Status.SENT).count() == 3
    run = ScheduledJobRun.objects.get(name="session_reminders_dispatch")
    assert run.last_status == ScheduledJobRun.Status.SUCCESS
    assert run.last_summary == "0 rappel(s) à envoyer en 0 lot(s)"  # the second run found nothing left


def test_the_message_says_when_the_session_closes_and_how_to_stop(calendar, run_tasks, settings):
    earlier = calendar[0]
    pharmacy = factories.PharmacyFactory(name="Pharmacie du Port")
    ordered(pharmacy, earlier[4])
    with time_machine.travel(TUESDAY_3PM, tick=False):
        session_reminders_dispatch.delay()
    (message,) = mail.outbox
    assert message.to == [pharmacy.email]
    assert message.subject == "[Commande de vaccins] Rappel : la session de commande ferme mardi 3 octobre à 23 h"
    unsubscribe = settings.SITE_URL + reverse(
        "sessions_calendar:reminders_unsubscribe", args=[reminder_unsubscribe_token(pharmacy=pharmacy)]
    )
    assert "ferme aujourd'hui, mardi 3 octobre, à 23 h" in message.body
    assert "Pharmacie du Port" in message.body and "Livraison indicative : 12-13 octobre." in message.body
    assert unsubscribe in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html"
    assert "<strong>aujourd'hui, mardi 3 octobre, à 23 h</strong>" in html and unsubscribe in html
    assert message.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"


def test_a_refused_send_is_retried_later_and_still_sent_once(calendar, settings):
    earlier, current = calendar
    pharmacy = factories.PharmacyFactory()
    ordered(pharmacy, earlier[4])
    settings.EMAIL_BACKEND = "tests.sessions_calendar.test_reminders.FailingBackend"
    with time_machine.travel(TUESDAY_3PM, tick=False):
        with pytest.raises(SMTPException):
            session_reminders_send(session_id=current.pk, pharmacy_ids=[pharmacy.pk])
        reminder = SessionReminder.objects.get()
        assert (reminder.status, reminder.last_error) == ("failed", "SMTPException: 421 service not available")
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        assert session_reminders_send(session_id=current.pk, pharmacy_ids=[pharmacy.pk]).sent == 1  # the retry
        assert session_reminders_send(session_id=current.pk, pharmacy_ids=[pharmacy.pk]).skipped == 1  # and again
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("sent", 2)
    assert len(mail.outbox) == 1


def test_a_claimed_reminder_is_never_sent_again_even_if_its_sender_died(calendar):
    """A worker killed between claiming and marking leaves the claim: at most once, never twice."""
    earlier, current = calendar
    pharmacy = factories.PharmacyFactory()
    ordered(pharmacy, earlier[4])
    SessionReminder.objects.create(session=current, pharmacy=pharmacy, email=pharmacy.email)
    with time_machine.travel(TUESDAY_3PM, tick=False):
        assert session_reminders_send(session_id=current.pk, pharmacy_ids=[pharmacy.pk]).skipped == 1
    assert mail.outbox == []


def test_an_officine_that_ordered_meanwhile_is_not_reminded(calendar):
    earlier, current = calendar
    pharmacy = factories.PharmacyFactory()
    ordered(pharmacy, earlier[4])
    ordered(pharmacy, current)  # between the plan and the batch
    with time_machine.travel(TUESDAY_3PM, tick=False):
        assert session_reminders_send(session_id=current.pk, pharmacy_ids=[pharmacy.pk]).skipped == 1
    assert mail.outbox == []


def test_the_beat_schedule_runs_the_dispatch_every_afternoon_hour(settings):
    from vaccine_orders.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["session-reminders"]
    assert entry["task"] == "sessions_calendar.tasks.session_reminders_dispatch"
    assert entry["schedule"].hour == set(range(14, 22))
    assert entry["task"] in app.tasks
    assert settings.CELERY_TIMEZONE == "Europe/Paris"


# --- the officine's preference --------------------------------------------------------------------


def test_an_officine_turns_its_reminder_off_and_on(client_a, pharmacy_a):
    url = reverse("sessions_calendar:reminders")
    page = client_a.get(url)
    assert page.status_code == 200 and "checked" in page.content.decode()
    assert client_a.post(url, {}).status_code == 302
    pharmacy_a.refresh_from_db()
    assert pharmacy_a.reminders_enabled is False
    client_a.post(url, {"reminders_enabled": "on"})
    pharmacy_a.refresh_from_db()
    assert pharmacy_a.reminders_enabled is True
    assert list(AuditEvent.objects.filter(pharmacy=pharmacy_a).values_list("action", flat=True).order_by("id")) == [
        "pharmacy.reminders_disabled",
        "pharmacy.reminders_enabled",
    ]


def test_the_preference_page_is_for_officine_accounts_only(client, admin_user):
    url = reverse("sessions_calendar:reminders")
    assert client.get(url).status_code == 302  # anonymous → login
    client.force_login(admin_user)
    assert client.get(url).status_code == 403  # staff is not an officine


def test_one_officine_cannot_change_another_s_preference(client_a, pharmacy_a, pharmacy_b):
    client_a.post(reverse("sessions_calendar:reminders"), {})
    pharmacy_b.refresh_from_db()
    assert pharmacy_b.reminders_enabled is True  # the page only ever acts on the logged-in officine


def test_the_unsubscribe_link_asks_then_turns_the_reminder_off(client, pharmacy_a):
    url = reverse("sessions_calendar:reminders_unsubscribe", args=[reminder_unsubscribe_token(pharmacy=pharmacy_a)])
    assert client.get(url).status_code == 200
    pharmacy_a.refresh_from_db()
    assert pharmacy_a.reminders_enabled is True  # a link scanner's GET changes nothing
    response = client.post(url)
    assert "ne recevra plus d'e-mail de rappel" in response.content.decode()
    pharmacy_a.refresh_from_db()
    assert pharmacy_a.reminders_enabled is False
    assert AuditEvent.objects.get(action="pharmacy.reminders_disabled").actor_label.startswith("Lien de désinscription")


def test_a_forged_unsubscribe_link_is_refused(client, pharmacy_a):
    token = reminder_unsubscribe_token(pharmacy=pharmacy_a)
    assert client.get(reverse("sessions_calendar:reminders_unsubscribe", args=[token[:-2] + "xx"])).status_code == 404


def test_no_reminder_outside_the_last_afternoon(calendar, run_tasks):
    earlier, _ = calendar
    ordered(factories.PharmacyFactory(), earlier[4])
    with time_machine.travel(datetime(2023, 10, 3, 10, 0, tzinfo=UTC), tick=False):
        session_reminders_dispatch.delay()
    assert mail.outbox == []


# --- PostgreSQL: two workers on the same batch ---------------------------------------------------------


def _two_workers_send(monkeypatch, *, claim) -> None:
    """Two workers run the same batch at the same instant (a redelivered message, a doubled beat): both
    reach the claim together (a barrier holds them just before it)."""
    import threading

    from django.db import connection

    from sessions_calendar.services import reminders

    barrier = threading.Barrier(2, timeout=30)

    def claim_together(**kwargs):
        barrier.wait()
        return claim(**kwargs)

    monkeypatch.setattr(reminders, "reminder_claim", claim_together)
    session = reminders.OrderSession.objects.filter(is_closed_week=False).order_by("-opens_at").first()
    pharmacy_ids = list(reminder_targets(session=session).values_list("pk", flat=True))

    def work() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '30s'")  # the loser waits for the winner's insert
            session_reminders_send(session_id=session.pk, pharmacy_ids=pharmacy_ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    with time_machine.travel(TUESDAY_3PM, tick=True):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_sending_the_same_reminder_at_once_send_it_once(calendar, monkeypatch):
    from sessions_calendar.services.reminders import reminder_claim

    earlier = calendar[0]
    pharmacy = factories.PharmacyFactory()
    ordered(pharmacy, earlier[4])
    _two_workers_send(monkeypatch, claim=reminder_claim)
    assert [m.to for m in mail.outbox] == [[pharmacy.email]]
    assert SessionReminder.objects.get().status == SessionReminder.Status.SENT


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_control_without_the_claim_two_workers_send_the_reminder_twice(calendar, monkeypatch):
    earlier = calendar[0]
    pharmacy = factories.PharmacyFactory()
    ordered(pharmacy, earlier[4])
    _two_workers_send(monkeypatch, claim=lambda **kwargs: True)
    assert [m.to for m in mail.outbox] == [[pharmacy.email], [pharmacy.email]]
