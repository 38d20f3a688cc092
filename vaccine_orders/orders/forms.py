"""Reading the order grid from a POST: one field per cell (q-<effector>-<product>-<rank>), plus the
version the grid was read at and the submission token. Every value is checked here; caps and stock are
checked by the caps engine and, under lock, by the ordering service."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from .caps import MAX_QUANTITY, CellKey
from .selectors import OrderGrid

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
INTEGER_RE = re.compile(r"^\d+$")
FOREIGN_CELL = (
    "La saisie contient une ligne qui n'est pas ouverte à la commande pour votre officine (effecteur non "
    "rattaché, produit ou type d'effecteur fermé). Rechargez la page et recommencez."
)
BAD_VERSION = "Le formulaire a été altéré ou est incomplet (version). Rechargez la page et recommencez."
BAD_TOKEN = "Le formulaire a été altéré ou est incomplet (jeton). Rechargez la page et recommencez."  # noqa: S105 - a message, not a secret


@dataclass
class ParsedGrid:
    quantities: dict[CellKey, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # what was typed, to show it back
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    base_version: int = 0
    token: str = ""

    @property
    def ok(self) -> bool:
        return not self.field_errors and not self.errors


def parse_quantity(value: str) -> tuple[int | None, str | None]:
    """(quantity, None) or (None, French error). An empty cell means nothing ordered."""
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if text == "":
        return 0, None
    if INTEGER_RE.match(text):
        if len(text) > 9 or int(text) > MAX_QUANTITY:
            return None, f"Quantité trop grande : au plus {MAX_QUANTITY:,} par ligne.".replace(",", " ")
        return int(text), None
    if text.startswith("-") and INTEGER_RE.match(text[1:] or "x"):
        return None, "La quantité ne peut pas être négative."
    if re.match(r"^-?\d+[.,]\d*$", text):
        return None, "Saisissez un nombre entier (pas de décimale) : on commande des flacons ou des boîtes entiers."
    return None, "Saisissez un nombre entier, en chiffres."


def parse_grid(data: QueryDict, grid: OrderGrid | None) -> ParsedGrid:
    """Read the posted grid. With `grid`, cells it does not offer are refused here; without it (the
    "Valider" POST, where the ordering service re-reads the grid under lock anyway), every well-formed cell
    goes through and the service refuses the ones that are not open."""
    parsed = ParsedGrid()
    version = data.get("version", "")
    if INTEGER_RE.match(version) and len(version) < 10:
        parsed.base_version = int(version)
    else:
        parsed.errors.append(BAD_VERSION)
    token = data.get("token", "")
    if TOKEN_RE.match(token):
        parsed.token = token
    else:
        parsed.errors.append(BAD_TOKEN)

    foreign = False
    for name in data:
        if not name.startswith("q-"):
            continue
        value = data.get(name, "")
        key = CellKey.parse(name)
        quantity, error = parse_quantity(value)
        if key is None or (grid is not None and key not in grid.cells):
            # An effector of another officine, a product not open, a closed type, or an invented name:
            # refused as a whole rather than silently dropped.
            if error or quantity:
                foreign = True
            continue
        parsed.raw[name] = value
        if error:
            parsed.field_errors.setdefault(name, []).append(error)
        elif quantity:
            parsed.quantities[key] = quantity
    if foreign:
        parsed.errors.append(FOREIGN_CELL)
    return parsed
