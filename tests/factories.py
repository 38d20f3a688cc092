"""factory_boy factories for the domain. Identifiers are valid (check keys computed)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Department, PharmacistAuthority, Pharmacy, Region, User
from effectors.models import Attachment, Effector, EffectorType, Establishment, Professional
from sessions_calendar.models import CapRule, OrderSession, PilotGroup, ProductOffer
from vaccine_orders.identifiers import make_finess, make_rpps
from vaccine_orders.orders.models import Order, OrderLine, Product


def department(code: str = "75") -> Department:
    return Department.objects.get(code=code)


def region(code: str = "11") -> Region:
    return Region.objects.get(code=code)


def effector_type(code: str) -> EffectorType:
    return EffectorType.objects.get(code=code)


class PharmacyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pharmacy
        django_get_or_create = ("finess",)

    finess = factory.Sequence(lambda n: make_finess(f"75{n + 500000:06d}"))
    name = factory.Sequence(lambda n: f"Pharmacie {n}")
    address = "1 place du Marché"
    postal_code = "75011"
    city = "Paris"
    department = factory.LazyFunction(lambda: department("75"))
    email = factory.LazyAttribute(lambda o: f"officine-{o.finess}@example.org")
    email_verified_at = factory.LazyFunction(timezone.now)


class PharmacyUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.LazyAttribute(lambda o: f"officine-{o.pharmacy.finess}")
    email = factory.LazyAttribute(lambda o: o.pharmacy.email)
    pharmacy = factory.SubFactory(PharmacyFactory)


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"agent{n}")
    email = factory.Sequence(lambda n: f"agent{n}@example.org")
    is_staff = True


class AuthorityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PharmacistAuthority

    rpps = factory.Sequence(lambda n: make_rpps(f"{n + 1000000:010d}"))
    pharmacy = factory.SubFactory(PharmacyFactory)
    role = PharmacistAuthority.Role.TITULAIRE
    last_name = "MARTIN"
    first_name = "Claire"


class ProfessionalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Professional

    rpps = factory.Sequence(lambda n: make_rpps(f"{n + 5000000:010d}"))
    profession_code = "10"
    profession_label = "Médecin"
    last_name = factory.Sequence(lambda n: f"DOCTEUR{n}")
    first_name = "Jean"
    department = factory.LazyFunction(lambda: department("75"))


class EstablishmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Establishment

    finess = factory.Sequence(lambda n: make_finess(f"75{n + 700000:06d}"))
    category_code = "500"
    category_label = "EHPAD"
    name = factory.Sequence(lambda n: f"EHPAD {n}")
    department = factory.LazyFunction(lambda: department("75"))


class EffectorFactory(factory.django.DjangoModelFactory):
    """A professional effector by default (a doctor)."""

    class Meta:
        model = Effector

    type = factory.LazyFunction(lambda: effector_type("doctor"))
    professional = factory.SubFactory(ProfessionalFactory)


def own_effector(pharmacy: Pharmacy, code: str = "pharmacist") -> Effector:
    """The officine's own line ("pharmacist") or its nurses' total line ("nurse"), attached to it."""
    effector, _ = Effector.objects.get_or_create(pharmacy=pharmacy, type=effector_type(code))
    if not effector.attachments.filter(detached_at__isnull=True).exists():
        Attachment.objects.create(effector=effector, pharmacy=pharmacy, source=Attachment.Source.SYSTEM)
    return effector


def attached_effector(pharmacy: Pharmacy, code: str = "doctor") -> Effector:
    """A new professional or establishment effector of type `code`, attached to `pharmacy`."""
    kind = effector_type(code).kind
    if kind == EffectorType.Kind.ESTABLISHMENT:
        effector = Effector.objects.create(type=effector_type(code), establishment=EstablishmentFactory())
    elif kind == EffectorType.Kind.PROFESSIONAL:
        effector = EffectorFactory(type=effector_type(code))
    else:
        return own_effector(pharmacy, code)
    Attachment.objects.create(effector=effector, pharmacy=pharmacy)
    return effector


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"vaccin-{n}")
    name = factory.Sequence(lambda n: f"Vaccin {n}")
    short_name = factory.Sequence(lambda n: f"V{n}")
    kind = Product.Kind.VACCINE
    unit = Product.Unit.VIAL
    units_per_box = 10
    doses_per_vial = 10
    storage_rule = "Entre 2 et 8 °C, à l'abri de la lumière."


class PilotGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PilotGroup

    name = factory.Sequence(lambda n: f"Pilote {n}")


class OrderSessionFactory(factory.django.DjangoModelFactory):
    """By default a session open now: opened an hour ago, closing in a day."""

    class Meta:
        model = OrderSession

    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    closes_at = factory.LazyAttribute(lambda o: o.opens_at + timedelta(days=1, hours=1))
    confirmation_published_at = factory.LazyAttribute(lambda o: o.closes_at + timedelta(hours=19))
    delivery_start = factory.LazyAttribute(lambda o: (o.opens_at + timedelta(days=10)).date())
    delivery_end = factory.LazyAttribute(lambda o: (o.opens_at + timedelta(days=11)).date())


class ProductOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductOffer

    session = factory.SubFactory(OrderSessionFactory)
    product = factory.SubFactory(ProductFactory)


class CapRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapRule

    offer = factory.SubFactory(ProductOfferFactory)
    effector_type = factory.LazyFunction(lambda: effector_type("doctor"))
    mode = CapRule.Mode.PER_EFFECTOR
    limit = 5


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    reference = factory.Sequence(lambda n: f"T{n:08d}")
    pharmacy = factory.SubFactory(PharmacyFactory)
    session = factory.SubFactory(OrderSessionFactory)
    validated_at = factory.LazyFunction(timezone.now)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    effector = factory.SubFactory(EffectorFactory)
    product = factory.SubFactory(ProductFactory)
    quantity_requested = 5


# --- portal: news and support requests ---------------------------------------------------------------


class NewsItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "portal.NewsItem"

    title = factory.Sequence(lambda n: f"Actualité {n}")
    body = "Les commandes ouvrent lundi à 8 h."
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class SupportRequestFactory(factory.django.DjangoModelFactory):
    """An anonymous request, sent now, due two hours of opening time later."""

    class Meta:
        model = "portal.SupportRequest"

    reference = factory.Sequence(lambda n: f"SUP-T{n:07d}")
    reason = "question_commande"
    message = "Ma commande n'apparaît pas."
    name = "Claire Martin"
    email = "claire.martin@example.org"
    created_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda o: _support_due_at(o.created_at))


def _support_due_at(sent_at):
    from vaccine_orders.portal.opening_hours import support_due_at

    return support_due_at(sent_at=sent_at)
