"""Figures as French typography writes them (1 234 567), "—" for nothing."""

from __future__ import annotations

from django import template

from ..charts import fr_int as _fr_int

register = template.Library()


@register.filter
def fr_int(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, int):
        return _fr_int(value)
    return str(value)
