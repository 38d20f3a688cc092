"""The rules of a session as plain data: per product, open or not, national stock, box size, and a cell per
effector type (× injection rank) with its mode and limit.

The rules page, "copier les règles de la session précédente", the DGS table import and the audit all speak
this shape; only `services.rules.session_rules_save` turns it into ProductOffer / CapRule rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .models import CapRule

Mode = CapRule.Mode
RANK_SUFFIX = {0: "", 1: " (1re injection)", 2: " (2nde injection)"}
LIMITED_MODES = (Mode.PER_EFFECTOR, Mode.PER_PHARMACY)


@dataclass(frozen=True)
class Cell:
    mode: str
    limit: int | None = None

    @property
    def is_open(self) -> bool:
        return self.mode != Mode.CLOSED

    def describe(self, unit_plural: str = "unités") -> str:
        if self.mode == Mode.CLOSED:
            return "Non ouvert à la commande"
        if self.mode == Mode.UNLIMITED:
            return "Non limité"
        if self.mode == Mode.PER_EFFECTOR:
            return f"Jusqu'à {self.limit} {unit_plural} par effecteur"
        if self.mode == Mode.PER_PHARMACY:
            return f"Jusqu'à {self.limit} {unit_plural} par officine"
        return self.mode


CellKey = tuple[int, int]  # (effector type id, injection rank)


@dataclass
class ProductRules:
    is_open: bool = False
    national_stock: int | None = None
    box_size: int | None = None
    cells: dict[CellKey, Cell] = field(default_factory=dict)

    def normalized(self) -> ProductRules:
        """A closed product has no stock, box size or cells: what "not open" means once saved."""
        if not self.is_open:
            return ProductRules()
        return self


SessionRules = dict[int, ProductRules]  # product id → rules (products absent: not open)


def ranks_for(has_injection_rank: bool) -> tuple[int, ...]:
    return (1, 2) if has_injection_rank else (0,)


# Form field names, shared by the rules page and the service's error messages (field_errors keys).
def product_field(product_id: int, name: str) -> str:
    return f"p{product_id}-{name}"


def cell_field(product_id: int, rank: int, type_id: int, name: str) -> str:
    return f"c{product_id}-{rank}-{type_id}-{name}"


def serialize(rules: SessionRules, *, product_codes: dict[int, str], type_codes: dict[int, str]) -> dict:
    """JSON for the audit journal and the import fingerprint: readable codes, stable order."""
    out: dict[str, dict] = {}
    for product_id in sorted(rules, key=lambda pid: product_codes.get(pid, str(pid))):
        product = rules[product_id].normalized()
        if not product.is_open:
            continue
        cells = {}
        for (type_id, rank), cell in sorted(
            product.cells.items(), key=lambda item: (type_codes.get(item[0][0], ""), item[0][1])
        ):
            name = type_codes.get(type_id, str(type_id)) + (f"/{rank}" if rank else "")
            cells[name] = cell.mode + (f":{cell.limit}" if cell.limit is not None else "")
        out[product_codes.get(product_id, str(product_id))] = {
            "stock": product.national_stock,
            "box": product.box_size,
            "cells": cells,
        }
    return out


def fingerprint(serialized: dict) -> str:
    return hashlib.sha256(json.dumps(serialized, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RuleChange:
    """One line of "what would change", in French, for the import preview and the audit summary."""

    product: str
    text: str


def diff(
    before: SessionRules,
    after: SessionRules,
    *,
    product_names: dict[int, str],
    type_labels: dict[int, str],
) -> list[RuleChange]:
    changes: list[RuleChange] = []
    for product_id in sorted(set(before) | set(after), key=lambda pid: product_names.get(pid, "")):
        name = product_names.get(product_id, f"Produit n° {product_id}")
        old = before.get(product_id, ProductRules()).normalized()
        new = after.get(product_id, ProductRules()).normalized()
        if old.is_open != new.is_open:
            changes.append(
                RuleChange(name, "ouvert à la commande" if new.is_open else "n'est plus ouvert à la commande")
            )
        if old.national_stock != new.national_stock and (old.is_open or new.national_stock is not None):
            changes.append(
                RuleChange(name, f"stock national : {_or_none(old.national_stock)} → {_or_none(new.national_stock)}")
            )
        if old.box_size != new.box_size and (old.is_open or new.box_size is not None):
            changes.append(RuleChange(name, f"boîtes de : {_or_none(old.box_size)} → {_or_none(new.box_size)}"))
        for key in sorted(set(old.cells) | set(new.cells), key=lambda k: (type_labels.get(k[0], ""), k[1])):
            old_cell, new_cell = old.cells.get(key), new.cells.get(key)
            if old_cell == new_cell:
                continue
            type_id, rank = key
            label = f"{type_labels.get(type_id, type_id)}{RANK_SUFFIX[rank]}"
            changes.append(
                RuleChange(
                    name,
                    f"{label} : {old_cell.describe() if old_cell else 'pas de règle'} → "
                    f"{new_cell.describe() if new_cell else 'pas de règle'}",
                )
            )
    return changes


def _or_none(value: int | None) -> str:
    return "aucun" if value is None else str(value)
