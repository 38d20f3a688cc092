"""CSRF on every POST: a POST without the token is refused (403, a French page, nothing done) on EVERY URL of the URL
configuration, the admin's included, whoever sends it."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.psc import login_agent
from vaccine_orders.orders.models import Order

from .matrix import ADMIN_FAMILY, MATRIX, all_routes, build_url, cases_of, family_of, sample_path
from .world import ANON, PHARMACY_A, SUPERUSER

pytestmark = pytest.mark.django_db

CSRF_PAGE = "Le formulaire a expiré"


def _csrf_clients(world) -> dict[str, Client]:
    anonymous = Client(enforce_csrf_checks=True)
    officine = Client(enforce_csrf_checks=True)
    officine.force_login(world.users[PHARMACY_A])
    superuser = login_agent(Client(enforce_csrf_checks=True), world.users[SUPERUSER])
    return {ANON: anonymous, PHARMACY_A: officine, SUPERUSER: superuser}


def _refused(response) -> bool:
    return response.status_code == 403 and CSRF_PAGE in response.content.decode()


def test_every_url_refuses_a_post_without_its_token(world):
    clients = _csrf_clients(world)
    problems, checked = [], 0
    for key in sorted(MATRIX):
        case = cases_of(key)[0]
        url = build_url(key, case, world)
        data = next((c.data(world) for c in cases_of(key) if c.method == "POST" and c.data), {})
        for role in (ANON, PHARMACY_A):
            response = clients[role].post(url, data)
            checked += 1
            if not _refused(response):
                problems.append(f"POST {url} as {role} without a token: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert checked == 2 * len(MATRIX)


def test_every_admin_url_refuses_a_post_without_its_token(world):
    superuser = _csrf_clients(world)[SUPERUSER]
    routes = [route for route in all_routes() if family_of(route.key) is ADMIN_FAMILY]
    problems = [
        f"POST {sample_path(route)} ({route.key}): {response.status_code}"
        for route in routes
        if not _refused(response := superuser.post(sample_path(route), {"post": "yes", "action": "delete_selected"}))
    ]
    assert not problems, "\n".join(problems)


def test_a_refused_post_changes_nothing(world):
    """The order of A, cancelled by a POST without token: still registered."""
    officine = _csrf_clients(world)[PHARMACY_A]
    response = officine.post(f"/commandes/{world.order_a.reference}/annuler/", {"version": world.order_a.version})
    assert _refused(response)
    assert Order.objects.get(pk=world.order_a.pk).status == Order.Status.REGISTERED
    assert "Rien n'a été enregistré" in response.content.decode()


def test_with_its_token_the_same_post_goes_through(world):
    """The control: the CSRF check is what refused, not something else."""
    officine = _csrf_clients(world)[PHARMACY_A]
    page = officine.get(f"/commandes/{world.order_a.reference}/annuler/")
    token = officine.cookies["csrftoken"].value
    response = officine.post(
        f"/commandes/{world.order_a.reference}/annuler/",
        {"version": world.order_a.version, "csrfmiddlewaretoken": token},
    )
    assert page.status_code == 200
    assert response.status_code == 302
    assert Order.objects.get(pk=world.order_a.pk).status == Order.Status.CANCELLED
