"""The demo data: realistic, complete, valid, and idempotent."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from accounts.models import PharmacistAuthority, Pharmacy
from effectors.models import Attachment, EffectorType
from sessions_calendar.models import CapRule, OrderSession, ProductOffer
from vaccine_orders.orders.models import Order, OrderLine, Product

pytestmark = pytest.mark.django_db

DOMAIN_APPS = ("accounts", "effectors", "sessions_calendar", "orders", "portal", "audit", "fulfilment")


def _counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in DOMAIN_APPS}


@pytest.fixture
def seeded(db):
    call_command("seed_demo", verbosity=0)


def test_running_seed_demo_twice_leaves_the_same_data(seeded):
    first = _counts()
    call_command("seed_demo", verbosity=0)
    assert _counts() == first
    assert first["accounts.Pharmacy"] >= 50


def test_demo_data_covers_the_domain(seeded):
    assert Pharmacy.objects.count() >= 50
    assert Pharmacy.objects.values("department__region").distinct().count() >= 5
    assert not Pharmacy.objects.filter(authorities__isnull=True).exists()  # every officine has its titulaire
    roles = set(PharmacistAuthority.objects.values_list("role", flat=True))
    assert roles == set(PharmacistAuthority.Role.values)
    attached_types = set(
        Attachment.objects.filter(detached_at__isnull=True).values_list("effector__type__code", flat=True)
    )
    assert attached_types == set(EffectorType.objects.values_list("code", flat=True))
    assert set(Product.objects.values_list("code", flat=True)) >= {
        "moderna",
        "pfizer-adulte",
        "pfizer-pediatrique",
        "novavax",
        "janssen",
        "astrazeneca",
        "seringues-aiguilles",
        "aiguilles",
    }


def test_demo_has_the_summer_2023_calendar_and_an_open_session_with_seed_003_caps(seeded):
    closed = OrderSession.objects.filter(is_closed_week=True, opens_at__year=2023).count()
    assert closed == 5  # 31 July, 14 August, 28 August, 11 and 25 September 2023
    now = timezone.now()
    current = OrderSession.objects.get(opens_at__lte=now, closes_at__gt=now, is_closed_week=False)
    az = ProductOffer.objects.get(session=current, product__code="astrazeneca")
    doctor_caps = CapRule.objects.filter(offer=az, effector_type__code="doctor").values_list("injection_rank", "limit")
    assert sorted(doctor_caps) == [(1, 5), (2, 5)]
    moderna = ProductOffer.objects.get(session=current, product__code="moderna")
    assert moderna.national_stock
    assert moderna.box_size == 10
    assert list(moderna.cap_rules.values_list("effector_type__code", flat=True)) == ["occupational_doctor"]
    taken = (
        OrderLine.objects.filter(order__session=current, product__code="moderna").aggregate(
            s=Sum("quantity_requested")
        )["s"]
        or 0
    )
    assert moderna.stock_taken == taken


def test_past_sessions_have_orders_with_confirmed_quantities(seeded):
    past = Order.objects.filter(session__closes_at__lt=timezone.now())
    assert past.count() >= 50
    assert OrderLine.objects.filter(order__in=past, quantity_confirmed__isnull=False).exists()


def test_every_demo_row_passes_model_validation(seeded):
    for model in apps.get_models():
        if model._meta.app_label not in DOMAIN_APPS:
            continue
        for obj in model.objects.all()[:3000]:
            obj.full_clean()


def test_demo_orders_leave_no_receipt_to_send(seeded, mailoutbox):
    from django.db.models import F

    from vaccine_orders.orders.services import receipts_send_pending

    assert Order.objects.exists()
    assert not Order.objects.filter(receipt_version__lt=F("version")).exists()
    assert receipts_send_pending() == 0 and mailoutbox == []  # the first order of a demo mails one receipt only
