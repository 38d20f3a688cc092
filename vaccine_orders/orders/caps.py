"""The caps engine: which cells an officine may fill in a session, and whether a set of quantities fits.

Pure functions over plain data (no queries), so that the same rules serve the order grid, the recap,
validation under lock, "Reprendre ma commande précédente" and the property-based tests.

Rules (DESIGN.md, seeds 002/003):
- a product is open to an effector type when the session offers it and a cap rule for that type (and
  injection rank, for products ordered by rank) is not "closed"; no rule means not open;
- "per effector": each effector may order up to N in the session (the nurses' total line is one
  effector, so its cap is the total for all the nurses the officine serves);
- "per pharmacy": all the effectors of that type in the officine's order together up to N;
- box multiples: where the offer sets a box size, each quantity is a whole number of boxes;
- the national first-come-first-served stock is checked here for display and again, authoritatively,
  under lock by the ordering service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MAX_QUANTITY = 100_000  # far above any real line; refuses typing accidents like 10^12


@dataclass(frozen=True, order=True)
class CellKey:
    effector_id: int
    product_id: int
    rank: int = 0

    @property
    def field_name(self) -> str:
        return f"q-{self.effector_id}-{self.product_id}-{self.rank}"

    @classmethod
    def parse(cls, name: str) -> CellKey | None:
        parts = name.split("-")
        if len(parts) != 4 or parts[0] != "q" or not all(p.isdigit() and len(p) <= 18 for p in parts[1:]):
            return None
        return cls(int(parts[1]), int(parts[2]), int(parts[3]))


@dataclass(frozen=True)
class Rule:
    mode: str  # "closed" | "unlimited" | "per_effector" | "per_pharmacy"
    limit: int | None = None

    @property
    def is_open(self) -> bool:
        return self.mode != "closed"


@dataclass(frozen=True)
class CellSpec:
    """One quantity the officine may enter: an effector, a product, a rank, and the rule in force."""

    key: CellKey
    effector_type_id: int
    rule: Rule
    box_size: int | None = None


@dataclass(frozen=True)
class StockSpec:
    product_id: int
    remaining: int  # national stock not yet taken by anybody
    held_by_this_order: int  # what this officine's registered order already holds


@dataclass
class CheckResult:
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.field_errors and not self.errors

    def add(self, key: CellKey, message: str) -> None:
        self.field_errors.setdefault(key.field_name, []).append(message)


@dataclass(frozen=True)
class Labels:
    """French words for messages: effector and product names, units."""

    effectors: Mapping[int, str]
    products: Mapping[int, str]
    units: Mapping[int, tuple[str, str]]  # product id → (singular, plural)
    type_plurals: Mapping[int, str]

    def qty(self, product_id: int, quantity: int) -> str:
        singular, plural = self.units.get(product_id, ("unité", "unités"))
        return f"{quantity} {singular if quantity <= 1 else plural}"


RANK_LABELS = {0: "", 1: " (1re injection)", 2: " (2nde injection)"}


def check_quantities(
    *,
    cells: Mapping[CellKey, CellSpec],
    quantities: Mapping[CellKey, int],
    stocks: Iterable[StockSpec] = (),
    labels: Labels,
) -> CheckResult:
    """Every reason why `quantities` (cells with a positive quantity) cannot be ordered, per field."""
    result = CheckResult()
    group_totals: dict[tuple[int, int, int], int] = defaultdict(int)
    group_cells: dict[tuple[int, int, int], list[CellKey]] = defaultdict(list)
    product_totals: dict[int, int] = defaultdict(int)

    for key, quantity in quantities.items():
        spec = cells.get(key)
        if spec is None or not spec.rule.is_open:
            result.errors.append(
                "La saisie contient une ligne qui n'est pas ouverte à la commande pour votre officine "
                "(effecteur non rattaché, produit ou type d'effecteur fermé). Rechargez la page et recommencez."
            )
            continue
        if quantity < 0:
            result.add(key, "La quantité ne peut pas être négative.")
            continue
        if quantity > MAX_QUANTITY:
            result.add(key, f"Quantité trop grande : au plus {MAX_QUANTITY:,} par ligne.".replace(",", " "))
            continue
        if quantity == 0:
            continue
        product = labels.products.get(key.product_id, "")
        if spec.box_size and quantity % spec.box_size:
            result.add(
                key,
                f"{product} se commande par boîtes entières de {spec.box_size} : saisissez un multiple de "
                f"{spec.box_size}.",
            )
        if spec.rule.mode == "per_effector" and quantity > (spec.rule.limit or 0):
            result.add(
                key,
                f"Plafond dépassé : au plus {labels.qty(key.product_id, spec.rule.limit or 0)} de {product}"
                f"{RANK_LABELS[key.rank]} pour {labels.effectors.get(key.effector_id, 'cet effecteur')}.",
            )
        if spec.rule.mode == "per_pharmacy":
            group = (key.product_id, spec.effector_type_id, key.rank)
            group_totals[group] += quantity
            group_cells[group].append(key)
        product_totals[key.product_id] += quantity

    for group, total in group_totals.items():
        product_id, type_id, rank = group
        limit = next(cells[k].rule.limit for k in group_cells[group]) or 0
        if total > limit:
            for key in group_cells[group]:
                result.add(
                    key,
                    f"Plafond par officine dépassé : au plus {labels.qty(product_id, limit)} de "
                    f"{labels.products.get(product_id, '')}{RANK_LABELS[rank]} au total pour les "
                    f"{labels.type_plurals.get(type_id, 'effecteurs').lower()} (saisi : {total}).",
                )

    for stock in stocks:
        wanted = product_totals.get(stock.product_id, 0)
        available = stock.remaining + stock.held_by_this_order
        if wanted > available:
            result.errors.append(
                stock_message(labels=labels, product_id=stock.product_id, available=available, wanted=wanted)
            )
    return result


def stock_message(*, labels: Labels, product_id: int, available: int, wanted: int) -> str:
    product = labels.products.get(product_id, "ce produit")
    if available <= 0:
        left = "le stock national est épuisé"
    else:
        left = f"il reste {labels.qty(product_id, available)} pour votre officine"
    return (
        f"{product} : premier arrivé, premier servi — {left} (vous en demandez {wanted}). "
        "Réduisez la quantité ; rien n'a été enregistré."
    )


def remaining_for(*, key: CellKey, cells: Mapping[CellKey, CellSpec], quantities: Mapping[CellKey, int]) -> int | None:
    """What is left of the cap of `key` given the other quantities entered (None when unlimited)."""
    spec = cells[key]
    if spec.rule.mode == "per_effector":
        return max(0, (spec.rule.limit or 0) - quantities.get(key, 0))
    if spec.rule.mode == "per_pharmacy":
        used = sum(
            q
            for k, q in quantities.items()
            if k in cells
            and cells[k].effector_type_id == spec.effector_type_id
            and k.product_id == key.product_id
            and k.rank == key.rank
        )
        return max(0, (spec.rule.limit or 0) - used)
    return None


def clip_to_caps(
    *, cells: Mapping[CellKey, CellSpec], wanted: Mapping[CellKey, int], stocks: Iterable[StockSpec] = ()
) -> tuple[dict[CellKey, int], list[CellKey]]:
    """The largest quantities ≤ `wanted` that fit the caps (cells in key order), and the keys that were
    reduced or dropped. Used by "Reprendre ma commande précédente"."""
    result: dict[CellKey, int] = {}
    changed: list[CellKey] = []
    used_by_group: dict[tuple[int, int, int], int] = defaultdict(int)
    stock_left = {s.product_id: s.remaining + s.held_by_this_order for s in stocks}
    for key in sorted(wanted):
        quantity = wanted[key]
        spec = cells.get(key)
        if spec is None or not spec.rule.is_open or quantity <= 0:
            if quantity > 0:
                changed.append(key)
            continue
        allowed = min(quantity, MAX_QUANTITY)
        if spec.rule.mode == "per_effector":
            allowed = min(allowed, spec.rule.limit or 0)
        if spec.rule.mode == "per_pharmacy":
            group = (key.product_id, spec.effector_type_id, key.rank)
            allowed = min(allowed, (spec.rule.limit or 0) - used_by_group[group])
        if key.product_id in stock_left:
            allowed = min(allowed, stock_left[key.product_id])
        if spec.box_size:
            allowed -= allowed % spec.box_size
        allowed = max(0, allowed)
        if allowed != quantity:
            changed.append(key)
        if allowed:
            result[key] = allowed
            if spec.rule.mode == "per_pharmacy":
                used_by_group[(key.product_id, spec.effector_type_id, key.rank)] += allowed
            if key.product_id in stock_left:
                stock_left[key.product_id] -= allowed
    return result, changed
