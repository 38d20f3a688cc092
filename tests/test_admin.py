"""Every admin changelist and change form opens, with a number of queries that does not grow with data."""

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

MAX_CHANGELIST_QUERIES = 15


def _our_model_admins():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {
            "accounts",
            "effectors",
            "sessions_calendar",
            "orders",
            "audit",
            "portal",
            "fulfilment",
        }:
            yield model, model_admin


def test_every_changelist_loads_with_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    call_command("seed_demo", verbosity=0)
    from vaccine_orders.audit.actors import Actor
    from vaccine_orders.audit.services import audit_record

    audit_record(actor=Actor.system(), action="test.event", summary="x")
    checked = []
    for model, _ in _our_model_admins():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
            response = admin_client.get(url)
        assert response.status_code == 200, url
        checked.append(model._meta.label)
    assert "orders.Order" in checked
    assert "effectors.Attachment" in checked


def test_every_change_form_opens(admin_client):
    call_command("seed_demo", verbosity=0)
    for model, _ in _our_model_admins():
        obj = model.objects.order_by("pk").first()
        if obj is None:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200, url


def test_staff_without_permission_cannot_open_the_order_changelist(client, django_user_model):
    from tests.psc import login_agent

    user = django_user_model.objects.create_user("agent", "agent@example.org", "pw", is_staff=True)
    login_agent(client, user)
    assert client.get(reverse("admin:orders_order_changelist")).status_code == 403


def test_staff_without_a_second_factor_never_reach_the_admin(client, django_user_model):
    user = django_user_model.objects.create_user("chef", "chef@example.org", "pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    response = client.get(reverse("admin:orders_order_changelist"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    final = client.get(response["Location"], follow=True)
    # Sent to authenticate again and enrol TOTP: never to the changelist.
    assert final.redirect_chain[-1][0].startswith(("/compte/", "/accounts/"))
    assert "admin/orders/order" not in final.redirect_chain[-1][0].split("?")[0]
