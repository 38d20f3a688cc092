"""PrecompiledQuery: an ORM query compiled once per process, run with each call's parameters."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Pharmacy
from tests import factories
from vaccine_orders.orders.models import Order
from vaccine_orders.precompiled import PrecompiledQuery

pytestmark = pytest.mark.django_db


def test_it_returns_what_the_orm_returns_for_each_call_and_compiles_once():
    a, b = factories.PharmacyFactory(), factories.PharmacyFactory()
    builds = []

    def build(pharmacy_id):
        builds.append(pharmacy_id)
        return Pharmacy.objects.filter(pk=pharmacy_id).order_by().values_list("pk", "finess")

    query = PrecompiledQuery(build, "pharmacy_id")
    assert query.rows(pharmacy_id=a.pk) == [(a.pk, a.finess)]
    assert query.rows(pharmacy_id=b.pk) == [(b.pk, b.finess)]
    assert query.rows(pharmacy_id=10**9) == []
    assert len(builds) == 1  # compiled on the first call only


def test_constants_of_the_query_stay_and_named_parameters_take_their_place():
    session = factories.OrderSessionFactory()
    pharmacy, other = factories.PharmacyFactory(), factories.PharmacyFactory()
    registered = factories.OrderFactory(pharmacy=pharmacy, session=session, status="registered")
    factories.OrderFactory(pharmacy=other, session=session, status="cancelled")
    query = PrecompiledQuery(
        lambda pharmacy_id, session_id: (
            Order.objects.filter(pharmacy=pharmacy_id, session=session_id, status="registered")
            .order_by()
            .values_list("pk")
        ),
        "pharmacy_id",
        "session_id",
    )
    assert query.rows(pharmacy_id=pharmacy.pk, session_id=session.pk) == [(registered.pk,)]
    assert query.rows(session_id=session.pk, pharmacy_id=other.pk) == []  # cancelled: the constant holds
    assert "registered" not in query.sql()  # a constant stays a parameter, not SQL text


def test_a_parameter_the_query_does_not_use_fails_loudly():
    query = PrecompiledQuery(lambda pharmacy_id: Pharmacy.objects.values_list("pk"), "pharmacy_id")
    with pytest.raises(ImproperlyConfigured, match="pharmacy_id"):
        query.rows(pharmacy_id=1)


def test_it_is_one_statement_seen_by_query_counts():
    pharmacy = factories.PharmacyFactory()
    query = PrecompiledQuery(
        lambda pharmacy_id: Pharmacy.objects.filter(pk=pharmacy_id).values_list("pk"), "pharmacy_id"
    )
    query.rows(pharmacy_id=pharmacy.pk)
    with CaptureQueriesContext(connection) as captured:
        query.rows(pharmacy_id=pharmacy.pk)
    assert len(captured) == 1 and str(pharmacy.pk) in captured[0]["sql"]


def test_a_locking_query_compiles_outside_a_transaction_and_locks_inside_one():
    pharmacy = factories.PharmacyFactory()
    query = PrecompiledQuery(
        lambda pharmacy_id: Pharmacy.objects.select_for_update().filter(pk=pharmacy_id).order_by().values_list("pk"),
        "pharmacy_id",
    )
    sql = query.sql()  # the ORM refuses select_for_update() outside a transaction: compiling must not
    if connection.features.has_select_for_update:
        assert sql.rstrip().endswith("FOR UPDATE")
    assert query.rows(pharmacy_id=pharmacy.pk) == [(pharmacy.pk,)]


def test_rows_go_through_the_orm_converters_like_a_queryset():
    from vaccine_orders.orders.models import Product

    factories.ProductFactory(code="astrazeneca", has_injection_rank=True)
    query = PrecompiledQuery(
        lambda product_id: Product.objects.filter(pk__gt=product_id).values_list("has_injection_rank", "code"),
        "product_id",
    )
    assert query.rows(product_id=0) == list(Product.objects.values_list("has_injection_rank", "code"))
    assert query.rows(product_id=0)[0][0] is True  # SQLite stores 1: the converter gives a bool back
