"""The logistics admin: changelists, the allocation tool (preview then apply), line forms, delivery dates,
exports and the resend button; every write through a service, every tool closed to staff without rights."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfilment.models import LogisticsExport, OutboxMessage, RegionalDeliveryDate
from fulfilment.services import lines_confirm_as_ordered, logistics_export_generate, mailing_prepare
from sessions_calendar.models import ProductOffer
from tests import factories
from tests.fulfilment.conftest import line_of
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import OrderLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    """Staff without any model permission, logged in with the second factor the admin requires."""
    from tests.psc import login_agent

    return login_agent(client, factories.StaffUserFactory())


def test_changelists_load_with_bounded_queries(admin_client, closed_cast, django_assert_max_num_queries):
    lines_confirm_as_ordered(session=closed_cast.session, actor=Actor.system())
    for name in ["sessionconfirmation", "confirmationline", "logisticsexport", "outboxmessage"]:
        with django_assert_max_num_queries(15):
            response = admin_client.get(reverse(f"admin:fulfilment_{name}_changelist"))
        assert response.status_code == 200, name
    session_page = admin_client.get(
        reverse("admin:fulfilment_sessionconfirmation_change", args=[closed_cast.session.pk])
    )
    assert session_page.status_code == 200
    assert "Répartition" in session_page.content.decode()


def test_bulk_confirm_action_on_sessions(admin_client, closed_cast):
    response = admin_client.post(
        reverse("admin:fulfilment_sessionconfirmation_changelist"),
        {"action": "confirm_as_ordered", "_selected_action": [closed_cast.session.pk]},
        follow=True,
    )
    assert "7 ligne(s) confirmée(s)" in response.content.decode()
    assert not OrderLine.objects.filter(order=closed_cast.order, quantity_confirmed__isnull=True).exists()
    event = AuditEvent.objects.get(action="fulfilment.lines_confirmed_as_ordered")
    assert event.actor.is_superuser


def test_reduce_a_line_requires_a_reason(admin_client, closed_cast):
    line = line_of(closed_cast, closed_cast.ehpad)
    url = reverse("admin:fulfilment_confirmationline_confirm", args=[line.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"quantity": 12, "reason": ""})
    assert "Indiquez le motif de la réduction." in response.content.decode()
    response = admin_client.post(url, {"quantity": 12, "reason": "Stock limité"})
    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.quantity_requested, line.quantity_confirmed, line.reduction_reason) == (30, 12, "Stock limité")


def test_record_a_partial_delivery(admin_client, published_cast):
    lines_confirm_as_ordered(session=published_cast.session, actor=Actor.system())
    line = line_of(published_cast, published_cast.ehpad)
    url = reverse("admin:fulfilment_confirmationline_deliver", args=[line.pk])
    response = admin_client.post(url, {"quantity": 31})
    assert "La quantité livrée ne peut dépasser la quantité confirmée (30)." in response.content.decode()
    assert admin_client.post(url, {"quantity": 25}).status_code == 302
    line.refresh_from_db()
    assert line.quantity_delivered == 25


def test_allocation_preview_writes_nothing_then_apply(admin_client, closed_cast, pharmacy_b):
    from tests.fulfilment.conftest import add_order

    ProductOffer.objects.filter(session=closed_cast.session, product=closed_cast.moderna).update(
        box_size=1, national_stock=50
    )
    add_order(pharmacy_b, closed_cast.session, [(factories.own_effector(pharmacy_b), closed_cast.moderna, 22)])
    url = reverse("admin:fulfilment_sessionconfirmation_allocation", args=[closed_cast.session.pk])
    page = admin_client.get(url + f"?product={closed_cast.moderna.pk}").content.decode()
    assert "demande supérieure au stock" in page
    assert 'value="50"' in page  # the national stock prefilled

    data = {"product": closed_cast.moderna.pk, "method": "pro_rata", "available": 50, "rounding": 1}
    preview = admin_client.post(url, {**data, "preview": "1"})
    html = preview.content.decode()
    assert "Aperçu : 50 attribués sur 100 demandés" in html
    assert not OrderLine.objects.filter(quantity_confirmed__isnull=False).exists()
    fingerprint = preview.context["form"]["fingerprint"].value()

    response = admin_client.post(url, {**data, "fingerprint": fingerprint, "apply": "1"}, follow=True)
    assert "Répartition appliquée : 50 sur 100 demandés" in response.content.decode()
    assert sum(OrderLine.objects.filter(product=closed_cast.moderna).values_list("quantity_confirmed", flat=True)) == 50


def test_allocation_apply_without_a_fresh_preview_is_refused(admin_client, closed_cast):
    url = reverse("admin:fulfilment_sessionconfirmation_allocation", args=[closed_cast.session.pk])
    data = {"product": closed_cast.moderna.pk, "method": "first_come", "available": 10, "rounding": 1}
    response = admin_client.post(url, {**data, "fingerprint": "stale", "apply": "1"})
    assert "Les commandes ont changé depuis l'aperçu" in html.unescape(response.content.decode())
    assert not OrderLine.objects.filter(quantity_confirmed__isnull=False).exists()


def test_delivery_dates_form(admin_client, closed_cast):
    url = reverse("admin:fulfilment_sessionconfirmation_delivery", args=[closed_cast.session.pk])
    region = factories.region("11")
    day = timezone.localdate() + timedelta(days=10)
    response = admin_client.post(
        url, {"default_date": day.isoformat(), f"region_{region.pk}": (day + timedelta(1)).isoformat()}
    )
    assert response.status_code == 302
    assert RegionalDeliveryDate.objects.get(region=region).delivery_date == day + timedelta(days=1)
    too_early = timezone.localdate() - timedelta(days=30)
    response = admin_client.post(url, {"default_date": too_early.isoformat()})
    assert "La date de livraison ne peut précéder la fermeture" in response.content.decode()


def test_export_action_download_and_send(admin_client, closed_cast, settings, django_capture_on_commit_callbacks):
    lines_confirm_as_ordered(session=closed_cast.session, actor=Actor.system())
    admin_client.post(
        reverse("admin:fulfilment_sessionconfirmation_changelist"),
        {"action": "request_export", "_selected_action": [closed_cast.session.pk]},
    )
    export = LogisticsExport.objects.get(session=closed_cast.session)
    logistics_export_generate(export_id=export.pk)
    response = admin_client.get(reverse("admin:fulfilment_logisticsexport_download", args=[export.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("utf-8-sig").startswith("session_id;")

    settings.LOGISTICS_EXPORT_EMAIL = "logistique@example.org"
    admin_client.post(
        reverse("admin:fulfilment_logisticsexport_changelist"), {"action": "send", "_selected_action": [export.pk]}
    )
    export.refresh_from_db()
    assert export.state == LogisticsExport.State.SENT

    admin_client.post(
        reverse("admin:fulfilment_logisticsexport_changelist"), {"action": "re_export", "_selected_action": [export.pk]}
    )
    assert LogisticsExport.objects.filter(session=closed_cast.session).count() == 2


def test_resend_button_on_a_failed_message(admin_client, published_cast):
    lines_confirm_as_ordered(session=published_cast.session, actor=Actor.system())
    mailing_prepare(session=published_cast.session, actor=Actor.system())
    row = OutboxMessage.objects.filter(kind="professional").first()
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxMessage.Status.FAILED, last_error="550 No such user")
    listing = admin_client.get(reverse("admin:fulfilment_outboxmessage_changelist") + "?status__exact=failed")
    assert "Renvoyer" in listing.content.decode()
    url = reverse("admin:fulfilment_outboxmessage_resend", args=[row.pk])
    assert "550 No such user" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.PENDING


def test_staff_without_permission_cannot_use_the_tools(staff_client, closed_cast):
    line = line_of(closed_cast, closed_cast.doctor)
    export = LogisticsExport.objects.create(session=closed_cast.session, sequence=1)
    row = OutboxMessage.objects.create(
        key="x", session=closed_cast.session, kind="pharmacy", pharmacy=closed_cast.order.pharmacy, status="failed"
    )
    urls = [
        reverse("admin:fulfilment_sessionconfirmation_allocation", args=[closed_cast.session.pk]),
        reverse("admin:fulfilment_sessionconfirmation_delivery", args=[closed_cast.session.pk]),
        reverse("admin:fulfilment_confirmationline_confirm", args=[line.pk]),
        reverse("admin:fulfilment_confirmationline_deliver", args=[line.pk]),
        reverse("admin:fulfilment_logisticsexport_download", args=[export.pk]),
        reverse("admin:fulfilment_outboxmessage_resend", args=[row.pk]),
    ]
    for url in urls:
        assert staff_client.get(url).status_code == 403, url
        assert staff_client.post(url, {"quantity": 1, "reason": "x"}).status_code == 403, url
    line.refresh_from_db()
    assert line.quantity_confirmed is None


def test_pharmacy_accounts_are_sent_to_the_admin_login(client_a, closed_cast):
    response = client_a.get(reverse("admin:fulfilment_sessionconfirmation_allocation", args=[closed_cast.session.pk]))
    assert response.status_code == 302
