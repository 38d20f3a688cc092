"""The charts of the reports page, drawn on the server as SVG: no JavaScript, nothing for the CSP to allow.

Readable without colour (RGAA 3.2): ordered doses are solid bars, confirmed doses hatched bars, each bar
carries its figure as text, and the legend repeats both; every chart is followed by the same figures as a
data table. This module only computes the geometry; the templates (reports/_chart_*.html) draw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .selectors import SeriesPoint


def fr_int(value: int | None) -> str:
    """1 234 567 with narrow no-break spaces, as French typography writes figures."""
    if value is None:
        return "—"
    return f"{value:,}".replace(",", "\u202f")


def nice_ceiling(value: int) -> int:
    """The round number (1, 2, 2.5 or 5 × 10^n) at or above `value`, for the top of the axis."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def _r(value: float) -> float:
    return round(value, 1)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    hatched: bool
    text: str
    text_x: float
    text_y: float
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    lines: tuple[str, ...]


@dataclass
class Chart:
    title: str
    description: str
    width: int
    height: int
    horizontal: bool = False
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    axis_x0: float = 0
    axis_y0: float = 0
    axis_x1: float = 0
    axis_y1: float = 0
    points: Sequence[SeriesPoint] = ()

    @property
    def is_empty(self) -> bool:
        return not self.points


def sessions_chart(points: Sequence[SeriesPoint]) -> Chart:
    """Vertical bars, two per session (ordered, confirmed), oldest session on the left."""
    bar, gap, group_gap = 26, 4, 28
    left, right, top, bottom = 80, 20, 44, 56
    plot_width = max(len(points), 1) * (2 * bar + gap + group_gap)
    width = max(640, left + plot_width + right)
    height = 340
    plot_height = height - top - bottom
    top_value = nice_ceiling(max([p.ordered_doses for p in points] + [p.confirmed_doses or 0 for p in points] + [1]))
    chart = Chart(
        title="Commandes par session : doses commandées et confirmées",
        description=(
            "Diagramme en barres : pour chaque session de la période, à gauche les doses commandées (barre "
            "pleine), à droite les doses confirmées (barre hachurée). Le nombre de commandes est indiqué sous "
            "la date de la session. Les mêmes chiffres sont dans le tableau qui suit."
        ),
        width=width,
        height=height,
        axis_x0=left,
        axis_y0=top + plot_height,
        axis_x1=width - right,
        axis_y1=top,
        points=points,
    )
    for step in range(5):
        value = top_value * step / 4
        chart.ticks.append(Tick(position=_r(top + plot_height - plot_height * step / 4), text=fr_int(round(value))))
    for index, point in enumerate(points):
        x = left + group_gap / 2 + index * (2 * bar + gap + group_gap)
        for offset, value, hatched, name in (
            (0, point.ordered_doses, False, "doses commandées"),
            (bar + gap, point.confirmed_doses, True, "doses confirmées"),
        ):
            height_px = plot_height * (value or 0) / top_value
            y = top + plot_height - height_px
            text = fr_int(value) if value is not None else "non publié"
            chart.bars.append(
                Bar(
                    x=_r(x + offset),
                    y=_r(y),
                    width=bar,
                    height=_r(height_px),
                    hatched=hatched,
                    text=text if value is not None else "—",
                    text_x=_r(x + offset + bar / 2),
                    text_y=_r(y - 6),
                    title=f"Session du {point.detail} : {text} {name}",
                )
            )
        chart.labels.append(
            Label(
                x=_r(x + bar + gap / 2),
                y=top + plot_height + 18,
                lines=(point.label, f"{fr_int(point.orders)} cde{'s' if point.orders > 1 else ''}"),
            )
        )
    return chart


def types_chart(points: Sequence[SeriesPoint]) -> Chart:
    """Horizontal bars, two per type of professional (ordered, confirmed), in the types' usual order."""
    bar, gap, group_gap = 14, 2, 14
    left, right, top, bottom = 250, 90, 36, 30
    width = 760
    plot_width = width - left - right
    height = top + max(len(points), 1) * (2 * bar + gap + group_gap) + bottom
    top_value = nice_ceiling(max([p.ordered_doses for p in points] + [p.confirmed_doses or 0 for p in points] + [1]))
    chart = Chart(
        title="Doses commandées et confirmées par type de professionnel",
        description=(
            "Diagramme en barres horizontales : pour chaque type de professionnel, en haut les doses commandées "
            "(barre pleine), en dessous les doses confirmées (barre hachurée). Les mêmes chiffres sont dans le "
            "tableau qui suit."
        ),
        width=width,
        height=height,
        horizontal=True,
        axis_x0=left,
        axis_y0=height - bottom,
        axis_x1=width - right,
        axis_y1=top,
        points=points,
    )
    for step in range(5):
        chart.ticks.append(Tick(position=_r(left + plot_width * step / 4), text=fr_int(round(top_value * step / 4))))
    for index, point in enumerate(points):
        y = top + group_gap / 2 + index * (2 * bar + gap + group_gap)
        chart.labels.append(Label(x=left - 8, y=_r(y + bar + gap / 2 + 4), lines=(point.label,)))
        for offset, value, hatched, name in (
            (0, point.ordered_doses, False, "doses commandées"),
            (bar + gap, point.confirmed_doses, True, "doses confirmées"),
        ):
            width_px = plot_width * (value or 0) / top_value
            text = fr_int(value) if value is not None else "non publié"
            chart.bars.append(
                Bar(
                    x=left,
                    y=_r(y + offset),
                    width=_r(width_px),
                    height=bar,
                    hatched=hatched,
                    text=text if value is not None else "—",
                    text_x=_r(left + width_px + 6),
                    text_y=_r(y + offset + bar - 3),
                    title=f"{point.label} : {text} {name}",
                )
            )
    return chart
