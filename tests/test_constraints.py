"""Every invariant the database holds, proven by trying to break it."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Pharmacy, User
from effectors.models import Attachment, Effector
from sessions_calendar.models import CapRule, OrderSession, ProductOffer
from tests import factories
from vaccine_orders.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def test_a_second_active_attachment_for_one_effector_is_refused(pharmacy_a, pharmacy_b):
    effector = factories.attached_effector(pharmacy_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        Attachment.objects.create(effector=effector, pharmacy=pharmacy_b)
    second = Attachment(effector=effector, pharmacy=pharmacy_b)
    with pytest.raises(ValidationError, match="déjà rattaché"):
        second.full_clean()


def test_detached_attachments_are_kept_as_history(pharmacy_a, pharmacy_b):
    effector = factories.attached_effector(pharmacy_a)
    Attachment.objects.filter(effector=effector).update(detached_at=timezone.now())
    Attachment.objects.create(effector=effector, pharmacy=pharmacy_b)
    assert effector.attachments.count() == 2
    assert effector.attachments.filter(detached_at__isnull=True).get().pharmacy == pharmacy_b


def test_detaching_before_attaching_is_refused(pharmacy_a):
    effector = factories.attached_effector(pharmacy_a)
    attachment = effector.attachments.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Attachment.objects.filter(pk=attachment.pk).update(detached_at=attachment.attached_at - timedelta(days=1))


def test_an_effector_points_at_exactly_one_thing(pharmacy_a):
    professional = factories.ProfessionalFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Effector.objects.create(type=factories.effector_type("doctor"), professional=professional, pharmacy=pharmacy_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        Effector.objects.create(type=factories.effector_type("doctor"))


def test_one_own_line_per_type_per_pharmacy(pharmacy_a):
    factories.own_effector(pharmacy_a, "nurse")
    with pytest.raises(IntegrityError), transaction.atomic():
        Effector.objects.create(type=factories.effector_type("nurse"), pharmacy=pharmacy_a)


@pytest.mark.parametrize("quantity", [0, -3])
def test_a_non_positive_quantity_is_refused(quantity):
    line = factories.OrderLineFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line.pk).update(quantity_requested=quantity)
    line.quantity_requested = quantity
    with pytest.raises(ValidationError):
        line.full_clean()


def test_a_duplicate_order_line_is_refused():
    line = factories.OrderLineFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.create(order=line.order, effector=line.effector, product=line.product, quantity_requested=1)


def test_confirmed_cannot_exceed_requested_nor_delivered_exceed_confirmed():
    line = factories.OrderLineFactory(quantity_requested=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line.pk).update(quantity_confirmed=6)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLine.objects.filter(pk=line.pk).update(quantity_confirmed=4, quantity_delivered=5)
    OrderLine.objects.filter(pk=line.pk).update(quantity_confirmed=4, quantity_delivered=4)


def test_a_duplicate_order_for_a_pharmacy_and_session_is_refused(pharmacy_a):
    order = factories.OrderFactory(pharmacy=pharmacy_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(reference="AUTRE", pharmacy=pharmacy_a, session=order.session)
    duplicate = Order(reference="AUTRE2", pharmacy=pharmacy_a, session=order.session)
    with pytest.raises(ValidationError, match="déjà une commande"):
        duplicate.full_clean()


def test_a_session_closing_before_it_opens_is_refused():
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderSession.objects.create(opens_at=now, closes_at=now - timedelta(hours=1))
    session = OrderSession(opens_at=now, closes_at=now)
    with pytest.raises(ValidationError, match="postérieure à son ouverture"):
        session.full_clean()


def test_confirmations_cannot_be_published_before_closing():
    session = factories.OrderSessionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderSession.objects.filter(pk=session.pk).update(confirmation_published_at=session.opens_at)


def test_national_stock_cannot_be_oversold():
    offer = factories.ProductOfferFactory(national_stock=100)
    ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=101)


def test_no_stock_can_be_taken_from_an_offer_without_stock():
    offer = factories.ProductOfferFactory(national_stock=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductOffer.objects.filter(pk=offer.pk).update(stock_taken=1)


@pytest.mark.parametrize(
    ("mode", "limit"),
    [
        (CapRule.Mode.PER_EFFECTOR, None),
        (CapRule.Mode.PER_PHARMACY, 0),
        (CapRule.Mode.UNLIMITED, 5),
        (CapRule.Mode.CLOSED, 1),
    ],
)
def test_a_cap_rule_limit_must_match_its_mode(mode, limit):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.CapRuleFactory(mode=mode, limit=limit)


def test_one_cap_rule_per_cell():
    rule = factories.CapRuleFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CapRule.objects.create(offer=rule.offer, effector_type=rule.effector_type, mode="unlimited")


@pytest.mark.parametrize("finess", ["750712185", "12345", "ABCDEFGHI"])
def test_an_invalid_finess_is_refused_by_model_validation(finess):
    pharmacy = Pharmacy(finess=finess, name="X", department=factories.department("75"))
    with pytest.raises(ValidationError) as excinfo:
        pharmacy.full_clean()
    assert "FINESS" in str(excinfo.value)


def test_an_invalid_rpps_is_refused_by_model_validation(pharmacy_a):
    authority = factories.AuthorityFactory.build(pharmacy=pharmacy_a, rpps="10001045368")
    with pytest.raises(ValidationError, match="clé de contrôle"):
        authority.full_clean()


def test_a_duplicate_finess_is_refused(pharmacy_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        Pharmacy.objects.create(finess=pharmacy_a.finess, name="Doublon", department=pharmacy_a.department)


def test_a_pharmacy_account_is_not_an_ars_agent(pharmacy_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="x", pharmacy=pharmacy_a, region=factories.region("11"))


def test_one_account_per_pharmacy(user_a, pharmacy_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="second", pharmacy=pharmacy_a)


def test_the_service_settings_are_a_single_row():
    from vaccine_orders.portal.models import ServiceSettings

    ServiceSettings.load()
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceSettings.objects.create(pk=2)
