"""Support agents read an officine's orders and effectors, never change them; every read is journaled."""

import pytest
from bs4 import BeautifulSoup
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests import factories
from tests.portal.conftest import login_agent
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import Order
from vaccine_orders.portal.support_reads import SupportReadLogAdminMixin

pytestmark = pytest.mark.django_db


def file_url(pharmacy) -> str:
    return reverse("support_pharmacy_file", args=[pharmacy.pk])


@pytest.fixture
def pharmacy_with_orders(pharmacy_a):
    doctor = factories.attached_effector(pharmacy_a, "doctor")
    session = factories.OrderSessionFactory()
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    factories.OrderLineFactory(order=order, effector=doctor, quantity_requested=7)
    return pharmacy_a, order, doctor


def test_a_support_agent_reads_the_orders_and_effectors_and_the_read_is_logged(
    client, support_agent, pharmacy_with_orders
):
    pharmacy, order, doctor = pharmacy_with_orders
    login_agent(client, support_agent)
    response = client.get(file_url(pharmacy))
    assert response.status_code == 200
    page = BeautifulSoup(response.content, "html.parser")
    assert order.reference in page.select_one(f"#commande-{order.reference}").get_text()
    assert doctor.display_name in page.get_text()
    assert "7" in page.select_one(f"#commande-{order.reference} tbody").get_text()
    # Read-only: no form, nothing to submit.
    assert page.select("main form") == []

    event = AuditEvent.objects.get(action="support.pharmacy_file_viewed")
    assert event.actor == support_agent
    assert event.pharmacy == pharmacy
    assert "lecture seule" in event.summary

    client.get(file_url(pharmacy))
    assert AuditEvent.objects.filter(action="support.pharmacy_file_viewed", pharmacy=pharmacy).count() == 2


def test_level_2_agents_read_it_too(client, support_agent_2, pharmacy_a):
    login_agent(client, support_agent_2)
    assert client.get(file_url(pharmacy_a)).status_code == 200


def test_the_page_cannot_be_posted_to(client, support_agent, pharmacy_a):
    login_agent(client, support_agent)
    assert client.post(file_url(pharmacy_a)).status_code == 405
    assert not AuditEvent.objects.filter(action="support.pharmacy_file_viewed").exists()


def test_the_file_costs_a_fixed_number_of_queries(client, support_agent, pharmacy_a, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = factories.OrderSessionFactory()
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    factories.OrderLineFactory(order=order, effector=factories.attached_effector(pharmacy_a, "doctor"))
    login_agent(client, support_agent)
    with CaptureQueriesContext(connection) as small:
        client.get(file_url(pharmacy_a))
    for _ in range(5):
        effector = factories.attached_effector(pharmacy_a, "doctor")
        factories.OrderLineFactory(order=order, effector=effector)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(file_url(pharmacy_a))


def test_staff_without_the_support_permission_is_refused(client, pharmacy_a):
    login_agent(client, factories.StaffUserFactory())
    assert client.get(file_url(pharmacy_a)).status_code == 403
    assert client.get(reverse("support_pharmacy_search")).status_code == 403
    assert not AuditEvent.objects.filter(action="support.pharmacy_file_viewed").exists()


def test_a_pharmacy_cannot_read_any_file_even_its_own(client_a, pharmacy_a):
    assert client_a.get(file_url(pharmacy_a)).status_code == 403


def test_anonymous_visitors_are_sent_to_a_login(client, pharmacy_a):
    assert client.get(file_url(pharmacy_a)).status_code == 302


def test_an_unknown_officine_is_not_found(client, support_agent):
    login_agent(client, support_agent)
    assert client.get(reverse("support_pharmacy_file", args=[999999])).status_code == 404


def test_the_search_finds_an_officine_by_finess_or_name(client, support_agent, pharmacy_a, pharmacy_b):
    login_agent(client, support_agent)
    spaced = f"{pharmacy_a.finess[:3]} {pharmacy_a.finess[3:]}"
    page = client.get(reverse("support_pharmacy_search"), {"finess": spaced}).content.decode()
    assert file_url(pharmacy_a) in page
    assert file_url(pharmacy_b) not in page
    page = client.get(reverse("support_pharmacy_search"), {"finess": "Pharmacie B"}).content.decode()
    assert file_url(pharmacy_b) in page
    # Searching is not reading an officine's data.
    assert not AuditEvent.objects.filter(action="support.pharmacy_file_viewed").exists()


def test_support_agents_cannot_change_orders_or_effectors_in_the_admin(client, support_agent, pharmacy_with_orders):
    _, order, doctor = pharmacy_with_orders
    login_agent(client, support_agent)
    for url in (
        reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:effectors_effector_change", args=[doctor.pk]),
    ):
        assert client.post(url, {}).status_code == 403
    for permission in (
        "orders.change_order",
        "orders.change_orderline",
        "orders.add_orderline",
        "effectors.change_effector",
        "effectors.add_attachment",
        "effectors.change_attachment",
    ):
        assert not support_agent.has_perm(permission), permission


def test_the_roles_give_both_support_groups_what_the_portal_needs():
    roles = pytest.importorskip("accounts.roles")
    from vaccine_orders.portal.support import SUPPORT_GROUP_PERMISSIONS

    for group, needed in SUPPORT_GROUP_PERMISSIONS.items():
        assert set(needed) <= set(roles.ROLES[group]), group


class _LoggedOrderAdmin(SupportReadLogAdminMixin, admin.ModelAdmin):
    support_read_pharmacy = "pharmacy"


def _admin_request(rf, user, path="/admin/orders/order/"):
    request = rf.get(path)
    request.user = user
    request.session = {}
    return request


def test_admin_reads_of_an_officines_data_by_support_are_logged(rf, support_agent, pharmacy_with_orders):
    pharmacy, order, _ = pharmacy_with_orders
    support_agent.user_permissions.add(Permission.objects.get(codename="view_order"))
    support_agent = type(support_agent).objects.get(pk=support_agent.pk)  # fresh permission cache
    model_admin = _LoggedOrderAdmin(Order, AdminSite(name="test-support-reads"))

    response = model_admin.change_view(_admin_request(rf, support_agent), str(order.pk))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="support.admin_record_viewed")
    assert event.actor == support_agent
    assert event.pharmacy == pharmacy
    assert event.target_id == str(order.pk)

    model_admin.changelist_view(_admin_request(rf, support_agent))
    assert AuditEvent.objects.filter(action="support.admin_list_viewed", actor=support_agent).count() == 1


def test_admin_reads_by_other_staff_are_not_support_reads(rf, pharmacy_with_orders):
    _, order, _ = pharmacy_with_orders
    superuser = factories.StaffUserFactory(is_superuser=True)
    model_admin = _LoggedOrderAdmin(Order, AdminSite(name="test-support-reads-2"))
    assert model_admin.change_view(_admin_request(rf, superuser), str(order.pk)).status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="support.").exists()
