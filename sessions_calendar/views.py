"""The published calendar ("Calendrier d'ouverture", public, and its ICS feed) and the officine's
reminder preference."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.access import pharmacy_required
from vaccine_orders.audit.actors import Actor, actor_from_request

from .forms import ReminderPreferenceForm
from .ics import calendar_ics
from .selectors import published_calendar
from .services import pharmacy_set_reminders, reminder_unsubscribe_pharmacy
from .services.calendar import PARIS

# The page shows the last month and everything ahead; a year shows that whole year (archives).
RECENT = timedelta(days=28)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS)


def calendar_page(request: HttpRequest) -> HttpResponse:
    """Public: open and closed weeks with the indicative delivery dates, as seed 004's table."""
    now = timezone.now()
    year_param = request.GET.get("annee", "")
    year = int(year_param) if year_param.isdigit() and 2020 <= int(year_param) <= 2100 else None
    if year is not None:
        since, until = _year_bounds(year)
        rows = published_calendar(since=since, until=until)
    else:
        rows = published_calendar(since=now - RECENT)
    years: dict[int, list] = {}
    for row in rows:
        years.setdefault(row.year, []).append(row)
    return render(
        request,
        "sessions_calendar/calendar.html",
        {
            "page_title": "Calendrier d'ouverture",
            "years": sorted(years.items()),
            "year": year,
            "now": now,
            "current_year": timezone.localtime(now).year,
            "ics_url": request.build_absolute_uri(reverse("sessions_calendar:calendar_ics")),
        },
    )


def calendar_feed(request: HttpRequest) -> HttpResponse:
    """Public ICS feed a calendar application subscribes to: sessions, closed weeks, indicative deliveries."""
    since = timezone.now() - timedelta(days=365)
    rows = published_calendar(since=since)
    host = request.get_host().split(":")[0] or "commande-vaccins"
    response = HttpResponse(
        calendar_ics(rows=rows, host=host, site_url=settings.SITE_URL), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="calendrier-commande-vaccins.ics"'
    response["Cache-Control"] = "public, max-age=900"
    return response


@pharmacy_required
@require_http_methods(["GET", "POST"])
def reminder_preferences(request: HttpRequest) -> HttpResponse:
    pharmacy = request.pharmacy
    form = ReminderPreferenceForm(
        request.POST if request.method == "POST" else None, initial={"reminders_enabled": pharmacy.reminders_enabled}
    )
    if request.method == "POST" and form.is_valid():
        enabled = form.cleaned_data["reminders_enabled"]
        pharmacy_set_reminders(pharmacy=pharmacy, enabled=enabled, actor=actor_from_request(request))
        messages.success(
            request,
            "Rappels de fin de session activés." if enabled else "Vous ne recevrez plus de rappel de fin de session.",
        )
        return redirect("sessions_calendar:reminders")
    return render(
        request,
        "sessions_calendar/reminders.html",
        {"page_title": "Rappels de fin de session", "form": form, "pharmacy": pharmacy},
    )


@require_http_methods(["GET", "POST"])
def reminder_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Public, from the e-mail's link (signed): GET asks, POST turns the reminder off. A link scanner that
    only GETs cannot unsubscribe anyone."""
    pharmacy = reminder_unsubscribe_pharmacy(token=token)
    if pharmacy is None:
        raise Http404("Lien de désinscription invalide.")
    done = False
    if request.method == "POST":
        pharmacy_set_reminders(
            pharmacy=pharmacy,
            enabled=False,
            actor=Actor(user=None, label=f"Lien de désinscription de l'e-mail de rappel ({pharmacy.finess})"),
        )
        done = True
    return render(
        request,
        "sessions_calendar/unsubscribe.html",
        {"page_title": "Ne plus recevoir les rappels", "pharmacy": pharmacy, "done": done},
    )
