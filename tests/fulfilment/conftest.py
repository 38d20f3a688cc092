"""A closed session with orders: the officine's own line, its nurses' total, doctors (one reachable by
e-mail), a midwife, an EHPAD; Moderna (vials, box of 10) and syringes (boxes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Pharmacy
from effectors.models import Effector
from sessions_calendar.models import OrderSession, ProductOffer
from tests import factories
from vaccine_orders.orders.models import Order, OrderLine, Product


def make_session(state: str = "published", *, now: datetime | None = None) -> OrderSession:
    """A session that is `open`, `closed` (not yet published) or `published`."""
    now = now or timezone.now()
    if state == "open":
        opens = now - timedelta(hours=2)
        closes = now + timedelta(days=1)
    elif state == "closed":
        opens = now - timedelta(days=2)
        closes = now - timedelta(hours=2)
    else:
        opens = now - timedelta(days=3)
        closes = now - timedelta(days=2)
    return factories.OrderSessionFactory(
        opens_at=opens,
        closes_at=closes,
        confirmation_published_at=closes + timedelta(hours=19) if state != "published" else now - timedelta(hours=1),
    )


def moderna() -> Product:
    return factories.ProductFactory(
        code="moderna",
        name="Moderna (Spikevax)",
        short_name="Moderna",
        units_per_box=10,
        doses_per_vial=10,
        storage_rule="Flacons à conserver 30 jours maximum entre 2 et 8 °C, à l'abri de la lumière.",
        sort_order=1,
    )


def syringes() -> Product:
    return factories.ProductFactory(
        code="seringues",
        name="Seringues (boîte de 100)",
        short_name="Seringues",
        kind=Product.Kind.MEDICAL_DEVICE,
        unit=Product.Unit.BOX,
        units_per_box=100,
        doses_per_vial=None,
        storage_rule="",
        sort_order=5,
    )


def add_order(pharmacy: Pharmacy, session: OrderSession, lines: list[tuple[Effector, Product, int]], **kwargs) -> Order:
    order = factories.OrderFactory(pharmacy=pharmacy, session=session, **kwargs)
    for effector, product, quantity in lines:
        OrderLine.objects.create(order=order, effector=effector, product=product, quantity_requested=quantity)
    return order


@dataclass
class Cast:
    session: OrderSession
    moderna: Product
    syringes: Product
    order: Order
    own: Effector
    nurses: Effector
    doctor: Effector
    doctor_no_email: Effector
    midwife: Effector
    ehpad: Effector
    lines: dict[str, OrderLine] = field(default_factory=dict)


def build_cast(pharmacy: Pharmacy, session: OrderSession) -> Cast:
    m, s = moderna(), syringes()
    ProductOffer.objects.get_or_create(session=session, product=m, defaults={"box_size": None})
    ProductOffer.objects.get_or_create(session=session, product=s)
    own = factories.own_effector(pharmacy, "pharmacist")
    nurses = factories.own_effector(pharmacy, "nurse")
    doctor = factories.attached_effector(pharmacy, "doctor")
    doctor.professional.first_name, doctor.professional.last_name = "Jeanne", "LAMBERT"
    doctor.professional.email = "jeanne.lambert@example.org"
    doctor.professional.save()
    doctor_no_email = factories.attached_effector(pharmacy, "doctor")
    midwife = factories.attached_effector(pharmacy, "midwife")
    midwife.professional.email = "sage-femme@example.org"
    midwife.professional.profession_code = "50"
    midwife.professional.save()
    ehpad = factories.attached_effector(pharmacy, "ehpad")
    order = add_order(
        pharmacy,
        session,
        [
            (own, m, 10),
            (nurses, m, 20),
            (doctor, m, 10),
            (doctor_no_email, m, 5),
            (midwife, m, 3),
            (ehpad, m, 30),
            (own, s, 2),
        ],
    )
    lines = {
        f"{line.effector.type.code}:{line.product.code}:{line.effector_id}": line
        for line in order.lines.select_related("effector__type", "product")
    }
    return Cast(
        session=session,
        moderna=m,
        syringes=s,
        order=order,
        own=own,
        nurses=nurses,
        doctor=doctor,
        doctor_no_email=doctor_no_email,
        midwife=midwife,
        ehpad=ehpad,
        lines=lines,
    )


def line_of(cast: Cast, effector: Effector, product: Product | None = None) -> OrderLine:
    product = product or cast.moderna
    return OrderLine.objects.get(order=cast.order, effector=effector, product=product)


@pytest.fixture
def published_cast(pharmacy_a) -> Cast:
    return build_cast(pharmacy_a, make_session("published"))


@pytest.fixture
def closed_cast(pharmacy_a) -> Cast:
    return build_cast(pharmacy_a, make_session("closed"))


@pytest.fixture
def staff_actor():
    from vaccine_orders.audit.actors import Actor

    return Actor(user=factories.StaffUserFactory(), label="Agent logistique SpF")
