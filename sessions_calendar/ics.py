"""The ICS feed of the published calendar (RFC 5545, through the `icalendar` library).

Sessions are timed events in Europe/Paris (with the VTIMEZONE block, so calendar applications keep 08:00
on both sides of a daylight-saving change); closed weeks and indicative deliveries are all-day events.
UIDs are stable per session, so a subscribed calendar updates events instead of duplicating them.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .selectors import CalendarRow

PRODID = "-//Santé publique France//Commande de vaccins//FR"


def calendar_ics(*, rows: list[CalendarRow], host: str, site_url: str) -> bytes:
    from icalendar import Calendar, Event  # imported here: only the feed needs it, not every process

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "Calendrier d'ouverture – Commande de vaccins")
    calendar.add("x-wr-timezone", "Europe/Paris")
    calendar.add("refresh-interval", timedelta(hours=12), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT12H")
    for row in rows:
        session = row.session
        stamp = session.updated_at or timezone.now()
        local_open = timezone.localtime(session.opens_at)
        if row.is_open:
            event = Event()
            event.add("uid", f"session-{session.pk}@{host}")
            event.add("dtstamp", stamp)
            event.add("dtstart", local_open)
            event.add("dtend", timezone.localtime(session.closes_at))
            title = "Session de commande de vaccins"
            if session.pilot_group_id:
                title += " (officines pilotes)"
            event.add("summary", title)
            description = f"Portail de commande ouvert ({row.dates}, {row.hours})."
            if row.delivery:
                description += f" Livraison indicative : {row.delivery}."
            if session.holiday_note:
                description += f" {session.holiday_note}."
            event.add("description", description)
            event.add("url", site_url + "/")
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
            if session.delivery_start and session.delivery_end:
                delivery = Event()
                delivery.add("uid", f"livraison-{session.pk}@{host}")
                delivery.add("dtstamp", stamp)
                delivery.add("dtstart", session.delivery_start)
                delivery.add("dtend", session.delivery_end + timedelta(days=1))  # DTEND of a date is exclusive
                delivery.add("summary", f"Livraison indicative (commandes du {row.dates})")
                delivery.add(
                    "description",
                    "Date de livraison indicative en officine ; la date prévisionnelle figure dans la confirmation "
                    "de commande (suivi de commande).",
                )
                delivery.add("transp", "TRANSPARENT")
                calendar.add_component(delivery)
        else:
            closed = Event()
            closed.add("uid", f"fermee-{session.pk}@{host}")
            closed.add("dtstamp", stamp)
            closed.add("dtstart", local_open.date())
            closed.add("dtend", timezone.localtime(session.closes_at).date() + timedelta(days=1))
            closed.add("summary", "Portail de commande fermé")
            closed.add("description", f"Pas de session de commande les {row.dates}.")
            closed.add("transp", "TRANSPARENT")
            calendar.add_component(closed)
    calendar.add_missing_timezones()
    return calendar.to_ical()
