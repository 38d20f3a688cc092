"""orders_over_cap: what existing orders hold beyond the rules in force (reused by the ordering core and
logistics)."""

from __future__ import annotations

import pytest

from sessions_calendar.models import CapRule, ProductOffer
from sessions_calendar.selectors import orders_over_cap
from tests import factories
from vaccine_orders.orders.models import Order

from .helpers import open_session_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def session():
    return open_session_now()


def offer(session, product, *, box=None, **rules) -> ProductOffer:
    created = ProductOffer.objects.create(session=session, product=product, box_size=box)
    for code, (mode, limit, *rank) in rules.items():
        CapRule.objects.create(
            offer=created,
            effector_type=factories.effector_type(code),
            mode=mode,
            limit=limit,
            injection_rank=rank[0] if rank else 0,
        )
    return created


def line(session, pharmacy, effector, product, quantity, rank=0):
    order = Order.objects.filter(pharmacy=pharmacy, session=session).first() or factories.OrderFactory(
        pharmacy=pharmacy, session=session
    )
    return factories.OrderLineFactory(
        order=order, effector=effector, product=product, quantity_requested=quantity, injection_rank=rank
    )


def test_nothing_is_over_when_every_line_fits(session, catalogue, pharmacy_a):
    janssen = catalogue["janssen"]
    offer(session, janssen, doctor=("per_effector", 10))
    line(session, pharmacy_a, factories.attached_effector(pharmacy_a), janssen, 10)
    assert orders_over_cap(session=session) == []


def test_per_effector_compares_each_line_with_the_limit(session, catalogue, pharmacy_a):
    janssen = catalogue["janssen"]
    offer(session, janssen, doctor=("per_effector", 5))
    over = line(session, pharmacy_a, factories.attached_effector(pharmacy_a), janssen, 6)
    line(session, pharmacy_a, factories.attached_effector(pharmacy_a), janssen, 5)
    (item,) = orders_over_cap(session=session)
    assert (item.reason, item.line_id, item.effector_id, item.quantity, item.allowed, item.excess) == (
        "per_effector",
        over.pk,
        over.effector_id,
        6,
        5,
        1,
    )
    assert item.message == "Janssen : 6 pour un effecteur, plafond 5 par effecteur."
    assert (item.pharmacy_id, item.order_reference) == (pharmacy_a.pk, over.order.reference)


def test_per_pharmacy_sums_the_type_within_the_order(session, catalogue, pharmacy_a, pharmacy_b):
    moderna = catalogue["moderna"]
    offer(session, moderna, ehpad=("per_pharmacy", 5))
    line(session, pharmacy_a, factories.attached_effector(pharmacy_a, "ehpad"), moderna, 3)
    line(session, pharmacy_a, factories.attached_effector(pharmacy_a, "ehpad"), moderna, 3)
    line(session, pharmacy_b, factories.attached_effector(pharmacy_b, "ehpad"), moderna, 5)  # another order: fits
    (item,) = orders_over_cap(session=session)
    assert (item.reason, item.line_id, item.effector_id, item.quantity, item.allowed) == (
        "per_pharmacy",
        None,
        None,
        6,
        5,
    )
    assert item.pharmacy_id == pharmacy_a.pk
    assert "6 au total pour les ehpad de l'officine, plafond 5 par officine" in item.message


def test_per_pharmacy_counts_each_injection_rank_apart(session, catalogue, pharmacy_a):
    az = catalogue["astrazeneca"]
    offer(session, az, pharmacist=("per_pharmacy", 5, 1))
    CapRule.objects.create(
        offer=session.offers.get(),
        effector_type=factories.effector_type("pharmacist"),
        injection_rank=2,
        mode="per_pharmacy",
        limit=5,
    )
    own = factories.own_effector(pharmacy_a)
    line(session, pharmacy_a, own, az, 5, rank=1)
    line(session, pharmacy_a, own, az, 5, rank=2)
    assert orders_over_cap(session=session) == []


def test_any_quantity_of_a_closed_product_type_or_rank_is_over(session, catalogue, pharmacy_a):
    az, janssen, moderna = catalogue["astrazeneca"], catalogue["janssen"], catalogue["moderna"]
    offer(session, az, midwife=("per_effector", 10, 1))
    CapRule.objects.create(
        offer=session.offers.get(product=az),
        effector_type=factories.effector_type("midwife"),
        injection_rank=2,
        mode="closed",
    )
    offer(session, janssen, doctor=("unlimited", None))
    midwife = factories.attached_effector(pharmacy_a, "midwife")
    dentist = factories.attached_effector(pharmacy_a, "dental_surgeon")
    line(session, pharmacy_a, midwife, az, 2, rank=2)  # rank closed
    line(session, pharmacy_a, dentist, janssen, 1)  # no rule for the type
    line(session, pharmacy_a, midwife, moderna, 4)  # product not offered at all
    over = orders_over_cap(session=session)
    assert sorted((o.product_name, o.effector_type_label, o.quantity, o.allowed) for o in over) == [
        ("AstraZeneca", "Sages-femmes", 2, 0),
        ("Janssen", "Chirurgiens-dentistes", 1, 0),
        ("Moderna", "Sages-femmes", 4, 0),
    ]
    assert {o.reason for o in over} == {"closed"}


def test_quantities_that_are_not_whole_boxes_are_over(session, catalogue, pharmacy_a):
    moderna = catalogue["moderna"]
    offer(session, moderna, box=10, occupational_doctor=("per_effector", 10))
    line(session, pharmacy_a, factories.attached_effector(pharmacy_a, "occupational_doctor"), moderna, 15)
    reasons = {(o.reason, o.allowed) for o in orders_over_cap(session=session)}
    assert reasons == {("per_effector", 10), ("box", 10)}


def test_cancelled_orders_and_other_sessions_are_ignored(session, catalogue, pharmacy_a):
    janssen = catalogue["janssen"]
    offer(session, janssen, doctor=("per_effector", 1))
    cancelled = line(session, pharmacy_a, factories.attached_effector(pharmacy_a), janssen, 9)
    Order.objects.filter(pk=cancelled.order_id).update(status=Order.Status.CANCELLED)
    assert orders_over_cap(session=session) == []


def test_the_number_of_queries_does_not_grow_with_orders(session, catalogue, django_assert_max_num_queries):
    janssen = catalogue["janssen"]
    offer(session, janssen, doctor=("per_effector", 1))
    for _ in range(15):
        pharmacy = factories.PharmacyFactory()
        line(session, pharmacy, factories.attached_effector(pharmacy), janssen, 2)
    with django_assert_max_num_queries(6):
        assert len(orders_over_cap(session=session)) == 15
