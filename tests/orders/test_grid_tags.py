"""The grid's rows and cell feedback, written in Python (orders_tags): escaped like {{ }}, laid out like the grid."""

from __future__ import annotations

from types import SimpleNamespace

from bs4 import BeautifulSoup

from vaccine_orders.orders.caps import CellKey
from vaccine_orders.orders.templatetags.orders_tags import cell_feedback, grid_row


def _cell(key: CellKey, *, value: str = "", errors: list[str] | None = None, remaining: int | None = 5) -> dict:
    return {
        "cell": SimpleNamespace(name=key.field_name, label=f"Quantité <{key.field_name}>"),
        "value": value,
        "errors": errors or [],
        "cap": "5 flacons max. <b>",
        "remaining": remaining,
    }


def _row(cells: list) -> dict:
    effector = SimpleNamespace(
        display_name='Dr <script>alert("x")</script>', identifier="10001", type=SimpleNamespace(label="Médecin & co")
    )
    return {"effector": effector, "cells": cells}


def test_every_value_is_escaped_and_an_input_keeps_what_was_typed():
    first, second = CellKey(7, 1, 1), CellKey(7, 1, 2)
    typed = '"><img src=x onerror=alert(1)>'
    html = grid_row(_row([_cell(first, value=typed, errors=["Saisissez un <nombre>."]), _cell(second)]))
    assert "<script>" not in html and "<img" not in html and "<b>" not in html and "<nombre>" not in html
    page = BeautifulSoup(html, "html.parser")
    header = page.select_one("th[scope=row]")
    assert header.get_text(" ", strip=True) == 'Dr <script>alert("x")</script> 10001'
    assert page.select("td")[0].get_text() == "Médecin & co"
    field = page.select_one(f"#{first.field_name}")
    assert field["value"] == typed and field["name"] == first.field_name
    assert field["aria-invalid"] == "true" and "fr-input--error" in field["class"]
    assert field["aria-describedby"] == f"reste-{first.field_name} erreurs-{first.field_name}"
    assert page.select_one(f"label[for={first.field_name}]").get_text() == f"Quantité <{first.field_name}>"
    assert page.select_one(f"#erreurs-{first.field_name}").get_text() == "Saisissez un <nombre>."
    other = page.select_one(f"#{second.field_name}")
    assert other["value"] == "" and not other.has_attr("aria-invalid")
    assert "fr-input-group--error" not in other.parent["class"]


def test_caps_are_one_per_line_and_a_closed_rank_says_so():
    open_cell = CellKey(7, 1, 1)
    page = BeautifulSoup(grid_row(_row([_cell(open_cell), None])), "html.parser")
    cells = page.select("tr > td")
    assert cells[1].decode_contents() == "5 flacons max. &lt;b&gt;<br/>"  # the next rank is closed: no cap shown
    assert cells[3].get_text() == "Non ouvert" and not cells[3].select("input")
    assert page.select_one(f"#reste-{open_cell.field_name}").get_text() == "Reste : 5"


def test_the_live_feedback_is_swapped_out_of_band_and_says_nothing_without_a_cap():
    key = CellKey(3, 2, 0)
    live = BeautifulSoup(cell_feedback(_cell(key, remaining=None), live=True), "html.parser")
    assert live.select_one(f"#reste-{key.field_name}")["hx-swap-oob"] == "true"
    assert live.select_one(f"#erreurs-{key.field_name}")["hx-swap-oob"] == "true"
    assert live.select_one(f"#reste-{key.field_name}").get_text() == ""
    still = BeautifulSoup(cell_feedback(_cell(key, remaining=0)), "html.parser")
    assert not still.select("[hx-swap-oob]") and still.get_text() == "Reste : 0"
