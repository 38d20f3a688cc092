"""Fixtures of the calendar tests: the catalogue of the DGS-Urgent notes and the effector types."""

from __future__ import annotations

import pytest

from effectors.models import EffectorType
from vaccine_orders.demo import PRODUCTS
from vaccine_orders.orders.models import Product


@pytest.fixture
def catalogue(db) -> dict[str, Product]:
    """The products of the DGS-Urgent notes, as the demo data defines them."""
    products = {}
    for order, (code, (name, short, kind, unit, per_box, doses, rank, storage)) in enumerate(PRODUCTS.items()):
        products[code], _ = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "short_name": short,
                "kind": kind,
                "unit": unit,
                "units_per_box": per_box,
                "doses_per_vial": doses,
                "has_injection_rank": rank,
                "storage_rule": storage,
                "sort_order": (order + 1) * 10,
            },
        )
    return products


@pytest.fixture
def types(db) -> dict[str, EffectorType]:
    return {t.code: t for t in EffectorType.objects.all()}
