"""The support's opening hours and its two-hour answer clock (DGS-Urgent of 4 March 2022, seed 002):
"une réponse sera apportée […] dans un délai de deux heures suivant la demande de contact (du lundi au
samedi, de 9h à 20h)".

Pure functions on aware datetimes: no database, no clock. Public holidays are not excluded, because the
source does not exclude them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
OPEN_WEEKDAYS = frozenset(range(6))  # Monday (0) to Saturday (5)
OPENS_AT = time(9, 0)
CLOSES_AT = time(20, 0)
SUPPORT_ANSWER_DELAY = timedelta(hours=2)
OPENING_HOURS_LABEL = "du lundi au samedi, de 9 h à 20 h"


def _window(day: date) -> tuple[datetime, datetime] | None:
    """The opening window of `day` in Paris time, or None on Sunday. No DST change happens between 9:00
    and 20:00, so wall-clock arithmetic inside a window is also elapsed time."""
    if day.weekday() not in OPEN_WEEKDAYS:
        return None
    return datetime.combine(day, OPENS_AT, tzinfo=PARIS), datetime.combine(day, CLOSES_AT, tzinfo=PARIS)


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("An aware datetime is required.")
    return value.astimezone(PARIS)


def add_opening_hours(start: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of opening hours has elapsed since `start`.

    A request sent outside the hours starts counting at the next opening: sent on Saturday at 19:30,
    a two-hour delay uses the last 30 minutes of Saturday and ends on Monday at 10:30.
    """
    if duration < timedelta(0):
        raise ValueError("The duration must not be negative.")
    cursor = _require_aware(start)
    remaining = duration
    day = cursor.date()
    while True:
        window = _window(day)
        if window is not None:
            opens, closes = window
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tzinfo=PARIS)


def opening_time_between(start: datetime, end: datetime) -> timedelta:
    """How much of the interval [start, end] falls within opening hours."""
    start, end = _require_aware(start), _require_aware(end)
    total = timedelta(0)
    day = start.date()
    while day <= end.date():
        window = _window(day)
        if window is not None:
            begin, finish = max(start, window[0]), min(end, window[1])
            if begin < finish:
                total += finish - begin
        day += timedelta(days=1)
    return total


def is_open(at: datetime) -> bool:
    local = _require_aware(at)
    window = _window(local.date())
    return window is not None and window[0] <= local < window[1]


def support_due_at(*, sent_at: datetime) -> datetime:
    """When the answer to a request sent at `sent_at` is due: two hours of opening time later."""
    return add_opening_hours(sent_at, SUPPORT_ANSWER_DELAY)
