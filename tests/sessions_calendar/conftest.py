"""Fixtures of the calendar tests: the catalogue of the DGS-Urgent notes and the effector types."""

from __future__ import annotations

import pytest

from effectors.models import EffectorType
from vaccine_orders.demo import catalogue_get_or_create
from vaccine_orders.orders.models import Product


@pytest.fixture
def catalogue(db) -> dict[str, Product]:
    """The products of the DGS-Urgent notes, as the demo data defines them."""
    return catalogue_get_or_create()


@pytest.fixture
def types(db) -> dict[str, EffectorType]:
    return {t.code: t for t in EffectorType.objects.all()}
