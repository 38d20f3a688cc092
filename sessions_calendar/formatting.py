"""French wording of dates as the DGS-Urgent notes write them ("17-18 juillet", "31 juillet – 1er août")."""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone

MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def day_number(day: date) -> str:
    return "1er" if day.day == 1 else str(day.day)


def day_month(day: date, *, year: bool = False) -> str:
    text = f"{day_number(day)} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def long_date(day: date, *, year: bool = True) -> str:
    """« lundi 29 mai 2023 »."""
    return f"{WEEKDAYS[day.weekday()]} {day_month(day, year=year)}"


def day_range(start: date, end: date, *, year: bool = False) -> str:
    """The seed 004 wording: « 17-18 juillet », « 31 juillet – 1er août », « 1er-2 août »."""
    if end < start:
        start, end = end, start
    if start == end:
        return day_month(start, year=year)
    if start.year != end.year:
        return f"{day_month(start, year=True)} – {day_month(end, year=True)}"
    if start.month == end.month:
        text = f"{day_number(start)}-{day_number(end)} {MONTHS[start.month - 1]}"
        return f"{text} {start.year}" if year else text
    return f"{day_month(start)} – {day_month(end, year=year)}"


def hour(value: time) -> str:
    """« 8 h », « 23 h », « 8 h 30 »."""
    return f"{value.hour} h" if value.minute == 0 else f"{value.hour} h {value.minute:02d}"


def local_instant(instant: datetime) -> str:
    """« lundi 17 juillet 2023 à 8 h » in Paris time."""
    local = timezone.localtime(instant)
    return f"{long_date(local.date())} à {hour(local.time())}"
