"""The caps engine (vaccine_orders.orders.caps) against an independent statement of the rules, for random rules,
boxes, national stocks and quantities (Hypothesis): what it accepts is exactly what the rules allow, and "Reprendre
ma commande précédente" (clip_to_caps) always yields an order the engine accepts, never more than was asked."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from vaccine_orders.orders.caps import (
    MAX_QUANTITY,
    CellKey,
    CellSpec,
    Labels,
    Rule,
    StockSpec,
    check_quantities,
    clip_to_caps,
)

LABELS = Labels(effectors={}, products={}, units={}, type_plurals={})
EFFECTORS = {1: 10, 2: 10, 3: 20, 4: 20}  # effector id → effector type id (two of each type)
PRODUCTS = (100, 200, 300)

rules = st.one_of(
    st.just(Rule("closed")),
    st.just(Rule("unlimited")),
    st.builds(Rule, st.just("per_effector"), st.integers(1, 20)),
    st.builds(Rule, st.just("per_pharmacy"), st.integers(1, 30)),
)


@st.composite
def worlds(draw):
    """Cells of an officine (a rule per product and effector TYPE, as cap rules are set), boxes, stocks."""
    rule_of = {(p, t): draw(rules) for p in PRODUCTS for t in set(EFFECTORS.values())}
    box_of = {p: draw(st.one_of(st.none(), st.integers(1, 5))) for p in PRODUCTS}
    cells = {
        CellKey(e, p): CellSpec(key=CellKey(e, p), effector_type_id=t, rule=rule_of[(p, t)], box_size=box_of[p])
        for e, t in EFFECTORS.items()
        for p in PRODUCTS
        if rule_of[(p, t)].is_open
    }
    stocks = [StockSpec(p, draw(st.integers(0, 60)), draw(st.integers(0, 20))) for p in PRODUCTS if draw(st.booleans())]
    every_key = [CellKey(e, p) for e in EFFECTORS for p in PRODUCTS]
    wanted = draw(st.dictionaries(st.sampled_from(every_key), st.integers(1, 40), max_size=8))
    return cells, stocks, wanted


def allowed(cells, stocks, quantities) -> bool:
    """The rules of DESIGN.md, written again without the engine."""
    per_group: dict[tuple, int] = defaultdict(int)
    per_product: dict[int, int] = defaultdict(int)
    for key, quantity in quantities.items():
        spec = cells.get(key)
        if spec is None or spec.rule.mode == "closed" or quantity > MAX_QUANTITY:
            return False
        if spec.box_size and quantity % spec.box_size:
            return False
        if spec.rule.mode == "per_effector" and quantity > spec.rule.limit:
            return False
        if spec.rule.mode == "per_pharmacy":
            per_group[(key.product_id, spec.effector_type_id, key.rank, spec.rule.limit)] += quantity
        per_product[key.product_id] += quantity
    if any(total > group[3] for group, total in per_group.items()):
        return False
    return all(per_product[s.product_id] <= s.remaining + s.held_by_this_order for s in stocks)


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_the_engine_accepts_exactly_what_the_rules_allow(world):
    cells, stocks, wanted = world
    assert check_quantities(cells=cells, quantities=wanted, stocks=stocks, labels=LABELS).ok == allowed(
        cells, stocks, wanted
    )


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_resuming_a_previous_order_always_fits_and_never_adds(world):
    cells, stocks, wanted = world
    clipped, changed = clip_to_caps(cells=cells, wanted=wanted, stocks=stocks)
    assert allowed(cells, stocks, clipped)
    assert check_quantities(cells=cells, quantities=clipped, stocks=stocks, labels=LABELS).ok
    assert all(0 < clipped[key] <= wanted[key] for key in clipped)
    assert set(changed) == {key for key in wanted if clipped.get(key, 0) != wanted[key]}


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_an_order_that_fits_is_resumed_unchanged(world):
    cells, stocks, wanted = world
    if allowed(cells, stocks, wanted):
        assert clip_to_caps(cells=cells, wanted=wanted, stocks=stocks) == (dict(wanted), [])
