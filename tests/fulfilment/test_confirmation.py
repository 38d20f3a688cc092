"""Confirmation by logistics: confirm as ordered, reduce with a reason, allocation of a short stock (pro
rata by boxes, first come first served), delivery dates per region, deliveries. Every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from fulfilment.errors import FulfilmentError
from fulfilment.selectors import delivery_date_for, region_id_of
from fulfilment.services import (
    AllocationMethod,
    allocation_apply,
    allocation_plan,
    default_rounding,
    delivery_dates_set,
    line_confirm,
    line_mark_delivered,
    lines_confirm_as_ordered,
    lines_mark_delivered,
    products_over_stock,
)
from sessions_calendar.models import ProductOffer
from tests import factories
from tests.fulfilment.conftest import add_order, build_cast, line_of, make_session, moderna
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


# --- confirm as ordered ----------------------------------------------------------------------------------


def test_confirm_as_ordered_confirms_untouched_lines_and_keeps_reductions(closed_cast, staff_actor):
    ehpad_line = line_of(closed_cast, closed_cast.ehpad)
    line_confirm(line_id=ehpad_line.pk, quantity=10, reason="Stock insuffisant", actor=staff_actor)

    count = lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)

    assert count == 6
    ehpad_line.refresh_from_db()
    assert (ehpad_line.quantity_requested, ehpad_line.quantity_confirmed) == (30, 10)
    assert ehpad_line.reduction_reason == "Stock insuffisant"
    others = OrderLine.objects.filter(order=closed_cast.order).exclude(pk=ehpad_line.pk)
    assert all(line.quantity_confirmed == line.quantity_requested for line in others)
    assert lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor) == 0


def test_confirm_as_ordered_writes_one_audit_event_per_pharmacy(closed_cast, pharmacy_b, staff_actor):
    add_order(pharmacy_b, closed_cast.session, [(factories.own_effector(pharmacy_b), closed_cast.moderna, 4)])
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    events = AuditEvent.objects.filter(action="fulfilment.lines_confirmed_as_ordered")
    assert {event.pharmacy_id for event in events} == {closed_cast.order.pharmacy_id, pharmacy_b.pk}
    event = events.get(pharmacy=pharmacy_b)
    assert event.actor_label == "Agent logistique SpF"
    assert list(event.after.values()) == [{"confirmed": 4}]


def test_confirm_as_ordered_can_target_selected_lines(closed_cast, staff_actor):
    line = line_of(closed_cast, closed_cast.doctor)
    assert lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor, line_ids=[line.pk]) == 1
    assert OrderLine.objects.filter(order=closed_cast.order, quantity_confirmed__isnull=False).count() == 1


def test_nothing_can_be_confirmed_while_the_session_is_open(pharmacy_a, staff_actor):
    cast = build_cast(pharmacy_a, make_session("open"))
    with pytest.raises(FulfilmentError) as error:
        lines_confirm_as_ordered(session=cast.session, actor=staff_actor)
    assert error.value.code == "session_not_closed"
    with pytest.raises(FulfilmentError):
        line_confirm(line_id=line_of(cast, cast.doctor).pk, quantity=1, reason="x", actor=staff_actor)


def test_cancelled_orders_are_not_confirmed(closed_cast, staff_actor):
    Order.objects.filter(pk=closed_cast.order.pk).update(status=Order.Status.CANCELLED, cancelled_at=timezone.now())
    assert lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor) == 0
    with pytest.raises(FulfilmentError) as error:
        line_confirm(line_id=line_of(closed_cast, closed_cast.doctor).pk, quantity=1, reason="x", actor=staff_actor)
    assert error.value.code == "order_not_registered"


# --- one line -----------------------------------------------------------------------------------------


def test_a_reduction_needs_a_reason_and_stays_within_the_request(closed_cast, staff_actor):
    line = line_of(closed_cast, closed_cast.doctor)
    with pytest.raises(FulfilmentError) as error:
        line_confirm(line_id=line.pk, quantity=5, reason="  ", actor=staff_actor)
    assert error.value.message == "Indiquez le motif de la réduction."
    with pytest.raises(FulfilmentError) as error:
        line_confirm(line_id=line.pk, quantity=11, reason="", actor=staff_actor)
    assert error.value.message == "La quantité confirmée ne peut dépasser la quantité demandée (10)."
    with pytest.raises(FulfilmentError):
        line_confirm(line_id=line.pk, quantity=-1, reason="x", actor=staff_actor)
    line.refresh_from_db()
    assert line.quantity_confirmed is None
    assert not AuditEvent.objects.filter(action__startswith="fulfilment.").exists()


def test_reducing_a_line_keeps_the_requested_quantity_and_audits_with_the_pharmacy(closed_cast, staff_actor):
    line = line_of(closed_cast, closed_cast.doctor)
    line_confirm(line_id=line.pk, quantity=0, reason="Produit non disponible", actor=staff_actor)
    line.refresh_from_db()
    assert (line.quantity_requested, line.quantity_confirmed, line.reduction_reason) == (
        10,
        0,
        "Produit non disponible",
    )
    event = AuditEvent.objects.get(action="fulfilment.line_reduced")
    assert event.pharmacy_id == closed_cast.order.pharmacy_id
    assert event.before == {str(line.pk): {"confirmed": None, "reason": ""}}
    assert event.after == {str(line.pk): {"confirmed": 0, "reason": "Produit non disponible"}}

    line_confirm(line_id=line.pk, quantity=10, reason="ignoré", actor=staff_actor)
    line.refresh_from_db()
    assert (line.quantity_confirmed, line.reduction_reason) == (10, "")
    assert AuditEvent.objects.filter(action="fulfilment.line_confirmed").count() == 1


def test_the_database_refuses_confirmed_above_requested():
    line = factories.OrderLineFactory(quantity_requested=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line.pk).update(quantity_confirmed=4)


def test_a_confirmation_change_asks_for_the_pdf_again_after_commit(
    closed_cast, staff_actor, django_capture_on_commit_callbacks, monkeypatch
):
    from fulfilment import tasks

    calls = []
    monkeypatch.setattr(tasks.render_summaries_pdf, "delay", lambda ids: calls.append(ids))
    with django_capture_on_commit_callbacks(execute=True):
        line_confirm(line_id=line_of(closed_cast, closed_cast.doctor).pk, quantity=10, reason="", actor=staff_actor)
    assert calls == [[closed_cast.order.pk]]


# --- deliveries ----------------------------------------------------------------------------------------


def test_logistics_marks_lines_delivered_or_partially_delivered(published_cast, staff_actor):
    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    doctor_line = line_of(published_cast, published_cast.doctor)
    ehpad_line = line_of(published_cast, published_cast.ehpad)

    line_mark_delivered(line_id=ehpad_line.pk, quantity=12, actor=staff_actor)
    assert lines_mark_delivered(line_ids=[doctor_line.pk], actor=staff_actor) == 1

    doctor_line.refresh_from_db()
    ehpad_line.refresh_from_db()
    assert doctor_line.quantity_delivered == 10
    assert ehpad_line.quantity_delivered == 12
    assert AuditEvent.objects.get(action="fulfilment.line_partially_delivered").pharmacy_id == (
        published_cast.order.pharmacy_id
    )
    with pytest.raises(FulfilmentError) as error:
        line_mark_delivered(line_id=ehpad_line.pk, quantity=31, actor=staff_actor)
    assert error.value.code == "delivered_above_confirmed"
    with pytest.raises(FulfilmentError) as error:
        line_confirm(line_id=ehpad_line.pk, quantity=5, reason="trop tard", actor=staff_actor)
    assert error.value.code == "below_delivered"


def test_an_unconfirmed_line_cannot_be_delivered(published_cast, staff_actor):
    with pytest.raises(FulfilmentError) as error:
        line_mark_delivered(line_id=line_of(published_cast, published_cast.doctor).pk, actor=staff_actor)
    assert error.value.code == "not_confirmed"


# --- allocation ---------------------------------------------------------------------------------------------


@pytest.fixture
def short_stock(pharmacy_a, pharmacy_b):
    """Moderna by boxes of 10 in a closed session: three officines ask 60, 30 and 10 (100) for a stock of 50."""
    session = make_session("closed")
    product = moderna()
    ProductOffer.objects.create(session=session, product=product, box_size=10, national_stock=50)
    pharmacy_c = factories.PharmacyFactory(name="Pharmacie C")
    now = timezone.now()
    orders = {}
    for pharmacy, quantity, minutes in [(pharmacy_a, 60, 30), (pharmacy_b, 30, 10), (pharmacy_c, 10, 20)]:
        orders[pharmacy.name] = add_order(
            pharmacy,
            session,
            [(factories.own_effector(pharmacy), product, quantity)],
            validated_at=now - timedelta(days=2, minutes=-minutes),
        )
    return session, product, orders


def _proposed(plan):
    return {row.line.order.pharmacy.name: row.proposed for row in plan.rows}


def test_pro_rata_rounds_to_whole_boxes_and_never_exceeds_the_stock(short_stock):
    session, product, _ = short_stock
    assert default_rounding(session=session, product=product) == 10
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.PRO_RATA, available=50, rounding=10
    )
    # Exact shares 30, 15, 5 → whole boxes 30, 10, 0; the box left goes to the largest remainder (5 vs 5:
    # B validated first).
    assert _proposed(plan) == {"Pharmacie A": 30, "Pharmacie B": 20, "Pharmacie C": 0}
    assert plan.allocated == 50 and plan.demand == 100
    assert all(row.proposed <= row.requested and row.proposed % 10 == 0 for row in plan.rows)


def test_first_come_first_served_follows_validation_time(short_stock):
    session, product, _ = short_stock
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.FIRST_COME, available=50, rounding=10
    )
    # Validated: B (−10 min), C (−20), A (−30): B 30, C 10, A gets the 10 left.
    assert _proposed(plan) == {"Pharmacie B": 30, "Pharmacie C": 10, "Pharmacie A": 10}
    assert [row.line.order.pharmacy.name for row in plan.rows] == ["Pharmacie B", "Pharmacie C", "Pharmacie A"]


def test_enough_stock_confirms_everything(short_stock):
    session, product, _ = short_stock
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.PRO_RATA, available=500, rounding=10
    )
    assert plan.allocated == plan.demand == 100
    assert plan.reduced_count == 0


def test_the_preview_writes_nothing_and_apply_writes_the_previewed_plan(short_stock, staff_actor):
    session, product, orders = short_stock
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.PRO_RATA, available=50, rounding=10
    )
    assert not OrderLine.objects.filter(quantity_confirmed__isnull=False).exists()

    allocation_apply(
        session=session,
        product=product,
        method=AllocationMethod.PRO_RATA,
        available=50,
        rounding=10,
        fingerprint=plan.fingerprint,
        actor=staff_actor,
    )
    confirmed = {
        line.order.pharmacy.name: (line.quantity_requested, line.quantity_confirmed, line.reduction_reason)
        for line in OrderLine.objects.select_related("order__pharmacy")
    }
    assert confirmed["Pharmacie A"][:2] == (60, 30)
    assert confirmed["Pharmacie C"][:2] == (10, 0)
    assert "prorata" in confirmed["Pharmacie A"][2]
    assert AuditEvent.objects.filter(action="fulfilment.allocation_applied").count() == 3
    assert set(AuditEvent.objects.values_list("pharmacy__name", flat=True)) == set(orders)


def test_apply_refuses_when_the_lines_changed_since_the_preview(short_stock, staff_actor):
    session, product, orders = short_stock
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.PRO_RATA, available=50, rounding=10
    )
    line = OrderLine.objects.get(order=orders["Pharmacie C"])
    line_confirm(line_id=line.pk, quantity=10, reason="", actor=staff_actor)

    with pytest.raises(FulfilmentError) as error:
        allocation_apply(
            session=session,
            product=product,
            method=AllocationMethod.PRO_RATA,
            available=50,
            rounding=10,
            fingerprint=plan.fingerprint,
            actor=staff_actor,
        )
    assert error.value.code == "allocation_stale"
    assert OrderLine.objects.filter(quantity_confirmed__isnull=False).count() == 1


def test_apply_refuses_different_parameters_than_previewed(short_stock, staff_actor):
    session, product, _ = short_stock
    plan = allocation_plan(
        session=session, product=product, method=AllocationMethod.PRO_RATA, available=50, rounding=10
    )
    with pytest.raises(FulfilmentError):
        allocation_apply(
            session=session,
            product=product,
            method=AllocationMethod.PRO_RATA,
            available=40,
            rounding=10,
            fingerprint=plan.fingerprint,
            actor=staff_actor,
        )


def test_products_over_stock_lists_the_short_product_first(short_stock):
    session, product, _ = short_stock
    rows = products_over_stock(session=session)
    assert rows[0]["product_id"] == product.pk
    assert rows[0]["over"] is True
    assert (rows[0]["demand"], rows[0]["stock"]) == (100, 50)


def test_allocation_validates_its_input(short_stock):
    session, product, _ = short_stock
    with pytest.raises(FulfilmentError):
        allocation_plan(session=session, product=product, method=AllocationMethod.PRO_RATA, available=-1, rounding=10)
    with pytest.raises(FulfilmentError):
        allocation_plan(session=session, product=product, method=AllocationMethod.PRO_RATA, available=5, rounding=0)


# --- delivery dates -------------------------------------------------------------------------------------------


def test_delivery_dates_fall_back_from_region_to_session_to_calendar(published_cast, pharmacy_b, staff_actor):
    session = published_cast.session
    paris = region_id_of(published_cast.order.pharmacy)
    assert delivery_date_for(session=session, region_id=paris) == session.delivery_end

    day = timezone.localdate() + timedelta(days=8)
    delivery_dates_set(session=session, default_date=day, regional={}, actor=staff_actor)
    assert delivery_date_for(session=session, region_id=paris) == day

    later = day + timedelta(days=2)
    region = factories.region("11")
    delivery_dates_set(session=session, default_date=day, regional={region: later}, actor=staff_actor)
    assert delivery_date_for(session=session, region_id=region.pk) == later
    other = factories.region("84")
    assert delivery_date_for(session=session, region_id=other.pk) == day

    delivery_dates_set(session=session, default_date=day, regional={region: None}, actor=staff_actor)
    assert delivery_date_for(session=session, region_id=region.pk) == day
    assert AuditEvent.objects.filter(action="fulfilment.delivery_dates_set").count() == 3


def test_a_delivery_date_cannot_precede_the_closing(published_cast, staff_actor):
    too_early = timezone.localtime(published_cast.session.closes_at).date() - timedelta(days=1)
    with pytest.raises(FulfilmentError) as error:
        delivery_dates_set(session=published_cast.session, default_date=too_early, regional={}, actor=staff_actor)
    assert error.value.code == "delivery_date_before_close"
