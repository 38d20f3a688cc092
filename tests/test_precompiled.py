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
from vaccine_orders.precompiled import PrecompiledInsert, PrecompiledQuery, PrecompiledUpdate

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


# --- PrecompiledInsert ----------------------------------------------------------------------------------


def _field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_create_writes_the_row_the_orm_would_and_returns_it_saved():
    pharmacy, session = factories.PharmacyFactory(), factories.OrderSessionFactory()
    user = factories.PharmacyUserFactory(pharmacy=pharmacy)
    before = timezone.now()
    order = PrecompiledInsert(Order).create(
        {
            "reference": "C261207-ABCDEF",
            "pharmacy_id": pharmacy.pk,
            "session_id": session.pk,
            "created_by_id": user.pk,
            "submission_token": "jeton",
        }
    )
    assert order.pk is not None and not order._state.adding
    stored = Order.objects.get(pk=order.pk)
    assert _field_values(stored) == _field_values(order)  # what is returned is what the database holds
    # Fields left out get the ORM's: defaults, and the instant of the call for auto_now(_add).
    assert (stored.status, stored.version, stored.receipt_version) == ("registered", 1, 0)
    assert stored.cancelled_at is None and stored.created_by_label == ""
    assert before <= stored.created_at == stored.updated_at <= timezone.now()
    assert stored.pharmacy == pharmacy and stored.created_by == user


def test_create_goes_through_each_fields_preparation_like_the_orm():
    from vaccine_orders.audit.models import AuditEvent

    payload = {"lines": [{"effector": "Officine (pour elle-même)", "quantity": 3}], "at": timezone.now()}
    insert = PrecompiledInsert(AuditEvent)
    written = insert.create({"actor_label": "Système", "action": "test", "after": payload, "before": None})
    by_orm = AuditEvent.objects.create(actor_label="Système", action="test", after=payload, before=None)
    # JSON through the field's encoder (a datetime becomes its ISO text), None stored as the ORM stores it.
    assert AuditEvent.objects.get(pk=written.pk).after == AuditEvent.objects.get(pk=by_orm.pk).after
    assert AuditEvent.objects.filter(pk__in=[written.pk, by_orm.pk], before__isnull=True).count() == 2
    assert AuditEvent.objects.filter(pk=written.pk, after__lines__0__quantity=3).exists()


def test_insert_many_writes_every_row_with_one_statement_whatever_their_number():
    from vaccine_orders.orders.models import OrderLine

    order = factories.OrderFactory()
    products = [factories.ProductFactory() for _ in range(5)]
    effectors = [factories.EffectorFactory() for _ in range(50)]
    rows = [
        {"order_id": order.pk, "effector_id": e.pk, "product_id": p.pk, "quantity_requested": i + 1}
        for i, (e, p) in enumerate((e, p) for e in effectors for p in products)
    ]
    insert = PrecompiledInsert(OrderLine)
    with CaptureQueriesContext(connection) as captured:
        insert.insert_many(rows[:1])
        insert.insert_many(rows[1:])
    # One statement per call, and the same text for 1 row as for 249: prepared once on PostgreSQL.
    assert [query["sql"].split(": ", 1)[0] for query in captured] == ["1 times", "249 times"]  # Django's record
    assert captured[0]["sql"].split(": ", 1)[1] == captured[1]["sql"].split(": ", 1)[1]
    stored = list(OrderLine.objects.filter(order=order).values_list("effector_id", "product_id", "quantity_requested"))
    assert sorted(stored) == sorted((r["effector_id"], r["product_id"], r["quantity_requested"]) for r in rows)
    assert OrderLine.objects.filter(order=order, injection_rank=0, quantity_confirmed=None).count() == len(rows)
    with CaptureQueriesContext(connection) as captured:
        insert.insert_many([])
    assert len(captured) == 0


def test_a_value_the_column_does_not_take_as_it_is_goes_through_its_fields_preparation():
    from vaccine_orders.audit.models import AuditEvent

    at = timezone.now() - timedelta(days=3)
    event = PrecompiledInsert(AuditEvent).create(
        {"actor_label": "Système", "action": "test", "target_id": 42, "created_at": at, "summary": "é" * 3}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.target_id == "42"  # an int into a text column: as the ORM would store it
    assert stored.created_at == at and stored.summary == "ééé"


def test_a_field_the_model_does_not_have_is_refused_before_anything_is_written():
    order = factories.OrderFactory()
    from vaccine_orders.orders.models import OrderLine

    with pytest.raises(ImproperlyConfigured, match="quantity"):
        PrecompiledInsert(OrderLine).insert_many([{"order_id": order.pk, "quantity": 3}])
    with pytest.raises(ImproperlyConfigured, match="pharmacy"):  # the attribute name is pharmacy_id
        PrecompiledInsert(Order).create({"reference": "C1", "pharmacy": order.pharmacy})
    assert not OrderLine.objects.exists() and Order.objects.count() == 1


def test_no_model_signal_is_connected_to_the_models_written_without_the_orm():
    from django.db.models import signals

    from vaccine_orders.audit.models import AuditEvent
    from vaccine_orders.orders.models import OrderLine

    for model in (Order, OrderLine, AuditEvent):
        for signal in (signals.pre_save, signals.post_save):
            assert not signal.has_listeners(model), (model, signal)


@pytest.mark.postgres
def test_on_postgresql_a_statement_run_often_is_prepared_once_and_its_parameters_sent_apart():
    from django.conf import settings

    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    pharmacies = [factories.PharmacyFactory() for _ in range(7)]
    query = PrecompiledQuery(
        lambda pharmacy_id: Pharmacy.objects.filter(pk=pharmacy_id).values_list("pk"), "pharmacy_id"
    )
    for pharmacy in pharmacies:  # the same SQL text each time: the ids travel as parameters
        assert query.rows(pharmacy_id=pharmacy.pk) == [(pharmacy.pk,)]
    assert "%s" in query.sql() and str(pharmacies[0].pk) not in query.sql().split("WHERE")[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
            [query.sql().replace("%s", "$1")],
        )
        assert cursor.fetchone()[0] == 1


# --- PrecompiledUpdate ----------------------------------------------------------------------------------


def test_an_update_runs_with_each_calls_values_and_says_how_many_rows_it_changed():
    from django.db.models import F

    from sessions_calendar.models import ProductOffer

    session = factories.OrderSessionFactory()  # sessions may not overlap: both offers in the same one
    offer = factories.ProductOfferFactory(session=session, national_stock=100)
    other = factories.ProductOfferFactory(session=session, national_stock=100)
    builds = []

    def build(offer_id, delta):
        builds.append(offer_id)
        return (
            ProductOffer.objects.filter(pk=offer_id, stock_taken__lte=F("national_stock") - delta),
            {"stock_taken": F("stock_taken") + delta},
        )

    take = PrecompiledUpdate(build, "offer_id", "delta")
    assert take.run(offer_id=offer.pk, delta=60) == 1
    assert take.run(offer_id=offer.pk, delta=50) == 0  # 40 left: the condition holds the same value as the update
    assert take.run(offer_id=offer.pk, delta=40) == 1
    assert take.run(offer_id=other.pk, delta=7) == 1
    assert list(ProductOffer.objects.filter(pk__in=[offer.pk, other.pk]).order_by("pk").values_list("stock_taken")) == [
        (100,),
        (7,),
    ]
    assert len(builds) == 1
    with pytest.raises(ImproperlyConfigured, match="run"):
        take.rows(offer_id=offer.pk, delta=1)
