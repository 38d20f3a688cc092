from __future__ import annotations

import html
from datetime import timedelta

from django import template
from django.utils.safestring import SafeString, mark_safe

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


# The grid's rows are written here rather than in grid.html: a row per attached effector (up to hundreds for an
# officine serving establishments) with a dozen variables per cell made the template language the largest cost of
# the grid page and of a refused "Valider" (two thirds of its CPU, profiled with cProfile over 340 refusals). Every
# value goes through _escape, which escapes as {{ }} does (a safe string stays as it is) without the lazy-string
# checks Django's escape() makes on each call; the markup is marked safe once, when the row is complete.


def _escape(value: object) -> str:
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _feedback(cell: dict, live: bool) -> str:
    """What is left of the cap, and the cell's errors: under the input, and swapped in by htmx as the user types."""
    name = _escape(cell["cell"].name)
    oob = ' hx-swap-oob="true"' if live else ""
    remaining = "" if cell["remaining"] is None else f"Reste : {_escape(cell['remaining'])}"
    errors = "".join(f'<p class="fr-error-text">{_escape(error)}</p>' for error in cell["errors"])
    return (
        f'<span id="reste-{name}" class="fr-hint-text"{oob}>{remaining}</span>'
        f'<div id="erreurs-{name}"{oob}>{errors}</div>'
    )


@register.simple_tag
def cell_feedback(cell: dict, live: bool = False) -> SafeString:
    return mark_safe(_feedback(cell, live))  # noqa: S308 - every value escaped by _escape


def _quantity_input(cell: dict) -> str:
    name = _escape(cell["cell"].name)
    if cell["errors"]:
        group, field, invalid = " fr-input-group--error", " fr-input--error", ' aria-invalid="true"'
    else:
        group = field = invalid = ""
    return (
        f'<div class="fr-input-group{group}">'
        f'<label class="fr-label fr-sr-only" for="{name}">{_escape(cell["cell"].label)}</label>'
        f'<input class="fr-input cv-qty{field}" type="text" inputmode="numeric" autocomplete="off" id="{name}" '
        f'name="{name}" value="{_escape(cell["value"])}" size="6" aria-describedby="reste-{name} erreurs-{name}"'
        f"{invalid}>{_feedback(cell, False)}</div>"
    )


@register.simple_tag
def grid_row(row: dict) -> SafeString:
    """One effector's row of the order grid: who, its type, its caps, and a quantity input per open cell."""
    effector = row["effector"]
    cells = row["cells"]
    identifier = f'<br><span class="fr-text--xs">{_escape(effector.identifier)}</span>' if effector.identifier else ""
    last = len(cells) - 1
    caps = "".join(f"{_escape(cell['cap'])}{'<br>' if i != last else ''}" for i, cell in enumerate(cells) if cell)
    inputs = "".join(
        f"<td>{_quantity_input(cell)}</td>" if cell else '<td><span class="fr-text--xs">Non ouvert</span></td>'
        for cell in cells
    )
    return mark_safe(  # noqa: S308 - every value escaped by _escape
        f'<tr><th scope="row">{_escape(effector.display_name)}{identifier}</th>'
        f"<td>{_escape(effector.type.label)}</td><td>{caps}</td>{inputs}</tr>"
    )
