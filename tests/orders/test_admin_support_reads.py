"""Support agents read an officine's orders in the admin, never change them, and every read is journaled."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests import factories
from tests.psc import login_agent
from vaccine_orders.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_client(client, django_user_model):
    agent = django_user_model.objects.create_user("n1", "n1@example.org", "pw", is_staff=True)
    agent.groups.add(Group.objects.get(name="Support niveau 1"))
    return login_agent(client, agent)


def test_a_support_read_of_an_order_and_its_lines_is_journaled(support_client, pharmacy_a):
    line = factories.OrderLineFactory(order=factories.OrderFactory(pharmacy=pharmacy_a))
    order = line.order
    assert support_client.get(reverse("admin:orders_order_change", args=[order.pk])).status_code == 200
    assert support_client.get(reverse("admin:orders_orderline_change", args=[line.pk])).status_code == 200
    assert support_client.get(reverse("admin:orders_order_changelist")).status_code == 200
    events = AuditEvent.objects.filter(action__startswith="support.admin_")
    assert set(events.values_list("action", flat=True)) == {"support.admin_record_viewed", "support.admin_list_viewed"}
    assert events.filter(action="support.admin_record_viewed", pharmacy=pharmacy_a).count() == 2


def test_support_cannot_change_an_order(support_client, pharmacy_a):
    order = factories.OrderFactory(pharmacy=pharmacy_a)
    response = support_client.post(reverse("admin:orders_order_change", args=[order.pk]), {"status": "cancelled"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "registered"


def test_a_support_read_of_a_pharmacy_is_journaled(support_client, pharmacy_a):
    response = support_client.get(reverse("admin:accounts_pharmacy_change", args=[pharmacy_a.pk]))
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="support.admin_record_viewed").pharmacy == pharmacy_a


def test_confirmed_quantities_cannot_be_edited_in_the_orders_admin(admin_client, pharmacy_a):
    line = factories.OrderLineFactory(order=factories.OrderFactory(pharmacy=pharmacy_a), quantity_requested=5)
    page = admin_client.get(reverse("admin:orders_order_change", args=[line.order.pk])).content.decode()
    assert 'name="lines-0-quantity_confirmed"' not in page
    response = admin_client.post(
        reverse("admin:orders_orderline_change", args=[line.pk]), {"quantity_confirmed": "1", "reduction_reason": "x"}
    )
    assert response.status_code == 403
    line.refresh_from_db()
    assert line.quantity_confirmed is None
