"""PrecompiledQuery: an ORM query compiled once per process, run with each call's parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Pharmacy
from sessions_calendar.models import OrderSession
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


def test_a_datetime_parameter_compares_like_the_orm_at_each_call_and_to_the_microsecond():
    now = timezone.now().replace(microsecond=500_000)
    earlier = factories.OrderSessionFactory(opens_at=now - timedelta(days=14), closes_at=now - timedelta(days=13))
    later = factories.OrderSessionFactory(opens_at=now, closes_at=now + timedelta(days=1))
    query = PrecompiledQuery(
        lambda at, before: (
            OrderSession.objects.filter(opens_at__lte=at, closes_at__gt=before)
            .order_by("pk")
            .values_list("pk", "opens_at")
        ),
        "at",
        "before",
        datetimes=("at", "before"),
    )

    def orm(at, before):
        return list(
            OrderSession.objects.filter(opens_at__lte=at, closes_at__gt=before)
            .order_by("pk")
            .values_list("pk", "opens_at")
        )

    for at, before in [
        (now, now),  # the later session opens at this very instant (included)
        (now - timedelta(microseconds=1), now - timedelta(days=14)),  # one microsecond too early for the later one
        (now + timedelta(days=2), now - timedelta(days=20)),
        (now - timedelta(days=30), now),
    ]:
        assert query.rows(at=at, before=before) == orm(at, before)
    assert query.rows(at=now, before=now) == [(later.pk, later.opens_at)]  # the converter gives an aware datetime
    assert [pk for pk, _ in query.rows(at=now, before=now - timedelta(days=20))] == [earlier.pk, later.pk]


def test_a_datetime_parameter_not_among_the_names_is_refused():
    with pytest.raises(ImproperlyConfigured, match="at"):
        PrecompiledQuery(lambda pharmacy_id: Pharmacy.objects.values_list("pk"), "pharmacy_id", datetimes=("at",))


def test_a_datetime_parameter_the_orm_transforms_is_not_found_and_fails_loudly():
    # __date casts the column and compares with a date: the sentinel instant never reaches the parameters.
    query = PrecompiledQuery(
        lambda at: OrderSession.objects.filter(opens_at__date=at).values_list("pk"), "at", datetimes=("at",)
    )
    with pytest.raises(ImproperlyConfigured, match="at"):
        query.rows(at=timezone.now())
