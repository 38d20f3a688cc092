"""The caps engine on its own: pure functions, no database."""

from vaccine_orders.orders.caps import (
    CellKey,
    CellSpec,
    Labels,
    Rule,
    StockSpec,
    check_quantities,
    clip_to_caps,
    remaining_for,
)

LABELS = Labels(
    effectors={1: "Dr A", 2: "Dr B", 3: "Officine", 4: "Infirmiers (total)"},
    products={10: "AstraZeneca", 20: "Moderna"},
    units={10: ("flacon", "flacons"), 20: ("flacon", "flacons")},
    type_plurals={100: "Médecins", 200: "Pharmaciens", 300: "Infirmiers"},
)


def cells(*specs: CellSpec) -> dict[CellKey, CellSpec]:
    return {s.key: s for s in specs}


def spec(effector, product, rank, type_id, mode, limit=None, box=None) -> CellSpec:
    return CellSpec(CellKey(effector, product, rank), type_id, Rule(mode, limit), box)


def test_per_effector_cap_is_per_effector_and_per_rank():
    grid = cells(
        spec(1, 10, 1, 100, "per_effector", 5),
        spec(1, 10, 2, 100, "per_effector", 5),
        spec(2, 10, 1, 100, "per_effector", 5),
    )
    ok = check_quantities(
        cells=grid, quantities={CellKey(1, 10, 1): 5, CellKey(1, 10, 2): 5, CellKey(2, 10, 1): 5}, labels=LABELS
    )
    assert ok.ok
    over = check_quantities(cells=grid, quantities={CellKey(1, 10, 1): 6}, labels=LABELS)
    assert over.field_errors["q-1-10-1"] == [
        "Plafond dépassé : au plus 5 flacons de AstraZeneca (1re injection) pour Dr A."
    ]


def test_per_pharmacy_cap_adds_up_every_effector_of_the_type():
    grid = cells(spec(1, 10, 1, 100, "per_pharmacy", 5), spec(2, 10, 1, 100, "per_pharmacy", 5))
    assert check_quantities(cells=grid, quantities={CellKey(1, 10, 1): 3, CellKey(2, 10, 1): 2}, labels=LABELS).ok
    result = check_quantities(cells=grid, quantities={CellKey(1, 10, 1): 3, CellKey(2, 10, 1): 3}, labels=LABELS)
    assert set(result.field_errors) == {"q-1-10-1", "q-2-10-1"}
    assert (
        "au plus 5 flacons de AstraZeneca (1re injection) au total pour les médecins (saisi : 6)"
        in (result.field_errors["q-1-10-1"][0])
    )


def test_closed_or_unknown_cells_are_refused_as_a_whole():
    grid = cells(spec(1, 10, 2, 300, "closed"))
    result = check_quantities(cells=grid, quantities={CellKey(1, 10, 2): 1, CellKey(9, 10, 0): 1}, labels=LABELS)
    assert len(result.errors) == 2 and not result.ok


def test_box_multiples():
    grid = cells(spec(1, 20, 0, 100, "per_effector", 10, box=10))
    assert check_quantities(cells=grid, quantities={CellKey(1, 20, 0): 10}, labels=LABELS).ok
    result = check_quantities(cells=grid, quantities={CellKey(1, 20, 0): 5}, labels=LABELS)
    assert result.field_errors["q-1-20-0"] == [
        "Moderna se commande par boîtes entières de 10 : saisissez un multiple de 10."
    ]


def test_unlimited_has_no_cap_but_a_sanity_maximum():
    grid = cells(spec(3, 20, 0, 200, "unlimited"))
    assert check_quantities(cells=grid, quantities={CellKey(3, 20, 0): 5000}, labels=LABELS).ok
    assert not check_quantities(cells=grid, quantities={CellKey(3, 20, 0): 10**12}, labels=LABELS).ok
    assert remaining_for(key=CellKey(3, 20, 0), cells=grid, quantities={}) is None


def test_stock_counts_what_the_order_already_holds():
    grid = cells(spec(1, 20, 0, 100, "per_effector", 100), spec(2, 20, 0, 100, "per_effector", 100))
    quantities = {CellKey(1, 20, 0): 20, CellKey(2, 20, 0): 10}
    assert check_quantities(cells=grid, quantities=quantities, stocks=[StockSpec(20, 10, 20)], labels=LABELS).ok
    result = check_quantities(cells=grid, quantities=quantities, stocks=[StockSpec(20, 0, 20)], labels=LABELS)
    assert result.errors == [
        "Moderna : premier arrivé, premier servi — il reste 20 flacons pour votre officine (vous en demandez 30). "
        "Réduisez la quantité ; rien n'a été enregistré."
    ]
    exhausted = check_quantities(cells=grid, quantities=quantities, stocks=[StockSpec(20, 0, 0)], labels=LABELS)
    assert "le stock national est épuisé" in exhausted.errors[0]


def test_remaining_shows_what_is_left_of_the_cap():
    grid = cells(
        spec(1, 10, 1, 100, "per_pharmacy", 5),
        spec(2, 10, 1, 100, "per_pharmacy", 5),
        spec(4, 10, 1, 300, "per_effector", 10),
    )
    quantities = {CellKey(1, 10, 1): 2, CellKey(4, 10, 1): 3}
    assert remaining_for(key=CellKey(2, 10, 1), cells=grid, quantities=quantities) == 3
    assert remaining_for(key=CellKey(4, 10, 1), cells=grid, quantities=quantities) == 7


def test_clip_to_caps_reduces_to_what_fits():
    grid = cells(
        spec(1, 10, 1, 100, "per_effector", 5),
        spec(2, 10, 1, 200, "per_pharmacy", 5),
        spec(3, 10, 1, 200, "per_pharmacy", 5),
        spec(4, 20, 0, 100, "per_effector", 10, box=10),
    )
    wanted = {
        CellKey(1, 10, 1): 8,
        CellKey(2, 10, 1): 4,
        CellKey(3, 10, 1): 4,
        CellKey(4, 20, 0): 10,
        CellKey(9, 10, 1): 3,
    }
    clipped, changed = clip_to_caps(cells=grid, wanted=wanted, stocks=[StockSpec(20, 5, 0)])
    assert clipped == {CellKey(1, 10, 1): 5, CellKey(2, 10, 1): 4, CellKey(3, 10, 1): 1}
    assert set(changed) == {CellKey(1, 10, 1), CellKey(3, 10, 1), CellKey(4, 20, 0), CellKey(9, 10, 1)}
    assert check_quantities(cells=grid, quantities=clipped, labels=LABELS).ok


def test_cell_names_round_trip_and_refuse_garbage():
    key = CellKey(12, 34, 2)
    assert CellKey.parse(key.field_name) == key
    for bad in ("q-1-2", "q-a-2-0", "x-1-2-0", "q-1-2-0-0", "q--1-2-0", "q-" + "9" * 30 + "-1-0"):
        assert CellKey.parse(bad) is None
