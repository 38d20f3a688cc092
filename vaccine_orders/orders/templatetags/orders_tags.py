from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_fr(value: timedelta | None) -> str:
    """ "1 jour 3 h 12 min", "45 min", "moins d'une minute"."""
    if value is None:
        return ""
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} jour{'s' if days > 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts) or "moins d'une minute"
