"""Helpers of the calendar tests: sessions at given Paris times (never overlapping: PostgreSQL refuses
overlapping sessions) and the values a browser would post from a page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bs4 import BeautifulSoup
from django.utils import timezone

from sessions_calendar.models import OrderSession
from sessions_calendar.services.calendar import PARIS


def paris(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def make_session(monday: date, *, closed_week: bool = False, **fields) -> OrderSession:
    """A Monday 08:00 → Tuesday 23:00 session of the week of `monday` (Paris time)."""
    values = {
        "opens_at": paris(monday, 8),
        "closes_at": paris(monday + timedelta(days=1), 23),
        "confirmation_published_at": None if closed_week else paris(monday + timedelta(days=2), 18),
        "delivery_start": None if closed_week else monday + timedelta(days=10),
        "delivery_end": None if closed_week else monday + timedelta(days=11),
        "is_closed_week": closed_week,
    }
    values.update(fields)
    return OrderSession.objects.create(**values)


def open_session_now(**fields) -> OrderSession:
    """A session open now (opened an hour ago, closing tomorrow)."""
    now = timezone.now()
    values = {
        "opens_at": now - timedelta(hours=1),
        "closes_at": now + timedelta(days=1),
        "confirmation_published_at": now + timedelta(days=2),
        "delivery_start": (now + timedelta(days=10)).date(),
        "delivery_end": (now + timedelta(days=11)).date(),
    }
    values.update(fields)
    return OrderSession.objects.create(**values)


def form_values(html: bytes | str, form_selector: str = "form") -> dict[str, str]:
    """The values a browser would submit for the first form matching `form_selector` (no file fields)."""
    soup = BeautifulSoup(html, "html.parser")
    form = soup.select_one(form_selector)
    data: dict[str, str] = {}
    for element in form.find_all(["input", "select", "textarea"]):
        name = element.get("name")
        if not name or element.has_attr("disabled"):
            continue
        if element.name == "select":
            selected = element.find("option", selected=True)
            data[name] = selected.get("value", "") if selected else ""
        elif element.name == "textarea":
            data[name] = element.text
        elif element.get("type") == "checkbox":
            if element.has_attr("checked"):
                data[name] = element.get("value", "on")
        elif element.get("type") in ("submit", "file"):
            continue
        else:
            data[name] = element.get("value", "")
    return data
