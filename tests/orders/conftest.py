"""An open session with the seed 003 shape: AstraZeneca by rank, Janssen per professional, Moderna for
occupational doctors by whole boxes within a national stock, syringes per officine."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from effectors.models import Effector
from sessions_calendar.models import CapRule, OrderSession, ProductOffer
from tests import factories
from vaccine_orders.orders.caps import CellKey
from vaccine_orders.orders.models import Product


@dataclass
class Setup:
    session: OrderSession
    az: Product
    janssen: Product
    moderna: Product
    syringes: Product
    moderna_offer: ProductOffer
    own: Effector
    nurses: Effector
    doctor: Effector
    doctor2: Effector
    midwife: Effector
    occupational: Effector
    ehpad: Effector

    def key(self, effector: Effector, product: Product, rank: int = 0) -> CellKey:
        return CellKey(effector.pk, product.pk, rank)


def rule(offer, type_code, mode, limit=None, rank=0):
    return CapRule.objects.create(
        offer=offer, effector_type=factories.effector_type(type_code), mode=mode, limit=limit, injection_rank=rank
    )


def build_session(pharmacy, session=None) -> Setup:
    session = session or factories.OrderSessionFactory()
    az = factories.ProductFactory(
        code="astrazeneca", name="AstraZeneca (Vaxzevria)", short_name="AstraZeneca", has_injection_rank=True
    )
    janssen = factories.ProductFactory(code="janssen", name="Janssen", short_name="Janssen", doses_per_vial=5)
    moderna = factories.ProductFactory(code="moderna", name="Moderna (Spikevax)", short_name="Moderna")
    syringes = factories.ProductFactory(
        code="seringues",
        name="Seringues (boîte de 100)",
        short_name="Seringues",
        kind="medical_device",
        unit="box",
        units_per_box=100,
        doses_per_vial=None,
    )
    az_offer = ProductOffer.objects.create(session=session, product=az)
    for rank in (1, 2):
        rule(az_offer, "doctor", "per_effector", 5, rank)
        rule(az_offer, "pharmacist", "per_pharmacy", 5, rank)
    rule(az_offer, "nurse", "per_effector", 10, 1)
    rule(az_offer, "nurse", "closed", None, 2)
    rule(az_offer, "midwife", "per_effector", 10, 1)
    janssen_offer = ProductOffer.objects.create(session=session, product=janssen)
    for code in ("pharmacist", "doctor", "nurse", "midwife"):
        rule(janssen_offer, code, "per_effector", 10)
    moderna_offer = ProductOffer.objects.create(session=session, product=moderna, national_stock=1000, box_size=10)
    rule(moderna_offer, "occupational_doctor", "per_effector", 10)
    syringes_offer = ProductOffer.objects.create(session=session, product=syringes)
    rule(syringes_offer, "pharmacist", "unlimited")
    rule(syringes_offer, "ehpad", "closed")
    return Setup(
        session=session,
        az=az,
        janssen=janssen,
        moderna=moderna,
        syringes=syringes,
        moderna_offer=moderna_offer,
        own=factories.own_effector(pharmacy, "pharmacist"),
        nurses=factories.own_effector(pharmacy, "nurse"),
        doctor=factories.attached_effector(pharmacy, "doctor"),
        doctor2=factories.attached_effector(pharmacy, "doctor"),
        midwife=factories.attached_effector(pharmacy, "midwife"),
        occupational=factories.attached_effector(pharmacy, "occupational_doctor"),
        ehpad=factories.attached_effector(pharmacy, "ehpad"),
    )


@pytest.fixture
def setup(pharmacy_a) -> Setup:
    return build_session(pharmacy_a)
