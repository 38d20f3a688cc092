"""The two-hour clock of the support, counted in opening hours (Monday–Saturday, 9:00–20:00, Paris)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from vaccine_orders.portal.opening_hours import (
    add_opening_hours,
    is_open,
    opening_time_between,
    support_due_at,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        # Saturday 19:30: 30 minutes on Saturday, none on Sunday, 1h30 on Monday.
        (paris(2026, 11, 21, 19, 30), paris(2026, 11, 23, 10, 30)),
        # Within the day.
        (paris(2026, 11, 23, 10, 0), paris(2026, 11, 23, 12, 0)),
        # Before opening: the clock starts at 9:00.
        (paris(2026, 11, 24, 7, 45), paris(2026, 11, 24, 11, 0)),
        # Exactly at closing time: nothing left today.
        (paris(2026, 11, 24, 20, 0), paris(2026, 11, 25, 11, 0)),
        # Friday evening runs into Saturday, which is open.
        (paris(2026, 11, 27, 18, 30), paris(2026, 11, 28, 9, 30)),
        # Sunday: Monday 11:00.
        (paris(2026, 11, 22, 15, 0), paris(2026, 11, 23, 11, 0)),
        # Just in time: 18:00 → 20:00 the same day.
        (paris(2026, 11, 23, 18, 0), paris(2026, 11, 23, 20, 0)),
    ],
)
def test_the_answer_is_due_two_opening_hours_later(sent, due):
    assert support_due_at(sent_at=sent) == due


def test_it_accepts_any_timezone_and_counts_in_paris_time():
    sent_utc = datetime(2026, 11, 21, 18, 30, tzinfo=UTC)  # Saturday 19:30 in Paris (UTC+1)
    assert support_due_at(sent_at=sent_utc) == paris(2026, 11, 23, 10, 30)


def test_daylight_saving_weekends_do_not_shift_the_clock():
    # The clocks go forward on Sunday 29 March 2026 at 2:00: Saturday 19:30 is still due Monday 10:30.
    assert support_due_at(sent_at=paris(2026, 3, 28, 19, 30)) == paris(2026, 3, 30, 10, 30)
    # And back on Sunday 25 October 2026.
    assert support_due_at(sent_at=paris(2026, 10, 24, 19, 30)) == paris(2026, 10, 26, 10, 30)


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        support_due_at(sent_at=datetime(2026, 11, 21, 19, 30))


def test_is_open_follows_the_hours():
    assert is_open(paris(2026, 11, 21, 9, 0))  # Saturday morning
    assert not is_open(paris(2026, 11, 21, 20, 0))  # closing time is excluded
    assert not is_open(paris(2026, 11, 22, 12, 0))  # Sunday


@given(
    sent=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(PARIS)),
    minutes=st.integers(min_value=0, max_value=60 * 30),
)
def test_exactly_the_requested_opening_time_elapses(sent, minutes):
    delay = timedelta(minutes=minutes)
    due = add_opening_hours(sent, delay)
    assert due >= sent
    assert opening_time_between(sent, due) == delay
    if minutes:
        # The clock runs out during opening hours (at closing time at the latest), never on a Sunday.
        assert is_open(due - timedelta(microseconds=1))


@pytest.mark.django_db
def test_a_request_sent_on_saturday_at_19_30_is_due_on_monday_at_10_30(client, anonymous_data):
    with time_machine.travel(paris(2026, 11, 21, 19, 30), tick=False):
        response = client.post("/support/", anonymous_data())
    assert response.status_code == 302
    from vaccine_orders.portal.models import SupportRequest

    support_request = SupportRequest.objects.get()
    assert support_request.created_at == paris(2026, 11, 21, 19, 30)
    assert support_request.due_at == paris(2026, 11, 23, 10, 30)
    # Monday 10:29 it is not late; at 10:31 it is.
    assert not support_request.is_overdue(at=paris(2026, 11, 23, 10, 29))
    assert support_request.is_overdue(at=paris(2026, 11, 23, 10, 31))
