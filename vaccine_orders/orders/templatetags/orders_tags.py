from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.html import format_html, format_html_join
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


# The grid's rows are written here with format_html rather than in grid.html: a row per attached effector (up to
# hundreds for an officine serving establishments) with a dozen variables per cell made the template language the
# largest cost of the grid page and of a refused "Valider" (two thirds of its CPU, profiled with cProfile over
# 340 refusals). Every value goes through format_html's escaping, as through {{ }}.


def _feedback(cell: dict, live: bool) -> SafeString:
    """What is left of the cap, and the cell's errors: under the input, and swapped in by htmx as the user types."""
    name = cell["cell"].name
    oob = mark_safe(' hx-swap-oob="true"') if live else ""
    remaining = "" if cell["remaining"] is None else f"Reste : {cell['remaining']}"
    errors = format_html_join("", '<p class="fr-error-text">{}</p>', ((error,) for error in cell["errors"]))
    return format_html(
        '<span id="reste-{}" class="fr-hint-text"{}>{}</span><div id="erreurs-{}"{}>{}</div>',
        name,
        oob,
        remaining,
        name,
        oob,
        errors,
    )


@register.simple_tag
def cell_feedback(cell: dict, live: bool = False) -> SafeString:
    return _feedback(cell, live)


def _quantity_input(cell: dict) -> SafeString:
    name = cell["cell"].name
    error = bool(cell["errors"])
    return format_html(
        '<div class="fr-input-group{}">'
        '<label class="fr-label fr-sr-only" for="{}">{}</label>'
        '<input class="fr-input cv-qty{}" type="text" inputmode="numeric" autocomplete="off" id="{}" name="{}" '
        'value="{}" size="6" aria-describedby="reste-{} erreurs-{}"{}>{}</div>',
        " fr-input-group--error" if error else "",
        name,
        cell["cell"].label,
        " fr-input--error" if error else "",
        name,
        name,
        cell["value"],
        name,
        name,
        mark_safe(' aria-invalid="true"') if error else "",
        _feedback(cell, False),
    )


@register.simple_tag
def grid_row(row: dict) -> SafeString:
    """One effector's row of the order grid: who, its type, its caps, and a quantity input per open cell."""
    effector = row["effector"]
    cells = row["cells"]
    identifier = (
        format_html('<br><span class="fr-text--xs">{}</span>', effector.identifier) if effector.identifier else ""
    )
    last = len(cells) - 1
    caps = format_html_join(
        "", "{}{}", ((cell["cap"], mark_safe("<br>") if i != last else "") for i, cell in enumerate(cells) if cell)
    )
    inputs = format_html_join(
        "",
        "<td>{}</td>",
        (
            (_quantity_input(cell) if cell else mark_safe('<span class="fr-text--xs">Non ouvert</span>'),)
            for cell in cells
        ),
    )
    return format_html(
        '<tr><th scope="row">{}{}</th><td>{}</td><td>{}</td>{}</tr>',
        effector.display_name,
        identifier,
        effector.type.label,
        caps,
        inputs,
    )
