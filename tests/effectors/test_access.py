"""Who may reach which page of Mes effecteurs: another officine's ids are "not found" (404), other roles are
refused (403), anonymous visitors are sent to the login page. Every view is in the matrix."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from effectors import services
from effectors.models import Attachment, TransferRequest
from tests import factories
from vaccine_orders.audit.actors import Actor

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


@pytest.fixture
def world(db):
    """A's doctor is asked for by C; B is the outsider (healthchecks' charlie)."""
    a, b, c = (factories.PharmacyFactory(name=name) for name in ("A", "B", "C"))
    users = {name: factories.PharmacyUserFactory(pharmacy=p) for name, p in zip("ABC", (a, b, c), strict=True)}
    doctor = factories.ProfessionalFactory()
    attachment = services.attachment_attach(pharmacy=a, identifier=doctor.rpps, actor=SYSTEM)
    transfer = services.transfer_request_create(pharmacy=c, identifier=doctor.rpps, actor=SYSTEM)
    return {"pharmacies": (a, b, c), "users": users, "attachment": attachment, "transfer": transfer}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def object_urls(world) -> list[tuple[str, str]]:
    attachment, transfer = world["attachment"].pk, world["transfer"].pk
    return [
        ("get", reverse("effectors:detach", args=[attachment])),
        ("post", reverse("effectors:detach", args=[attachment])),
        ("get", reverse("effectors:contact", args=[attachment])),
        ("post", reverse("effectors:contact", args=[attachment])),
        ("post", reverse("effectors:transfer_accept", args=[transfer])),
        ("post", reverse("effectors:transfer_refuse", args=[transfer])),
        ("post", reverse("effectors:transfer_cancel", args=[transfer])),
    ]


def test_another_officines_objects_are_not_found_and_untouched(world):
    outsider = client_for(world["users"]["B"])
    for method, url in object_urls(world):
        response = getattr(outsider, method)(url, {"email": "x@y.fr"} if "contact" in url else {})
        assert response.status_code == 404, (method, url)
    attachment = Attachment.objects.get(pk=world["attachment"].pk)
    assert attachment.detached_at is None and attachment.pharmacy == world["pharmacies"][0]
    assert TransferRequest.objects.get().status == "pending"
    assert attachment.effector.professional.email == ""


def test_the_requester_cannot_answer_its_own_request_nor_the_holder_cancel_it(world):
    requester, holder = client_for(world["users"]["C"]), client_for(world["users"]["A"])
    transfer = world["transfer"].pk
    assert requester.post(reverse("effectors:transfer_accept", args=[transfer])).status_code == 404
    assert holder.post(reverse("effectors:transfer_cancel", args=[transfer])).status_code == 404
    assert TransferRequest.objects.get().status == "pending"


def test_a_pharmacy_sees_only_its_own_effectors_and_requests(world):
    page = client_for(world["users"]["B"]).get(reverse("effectors:list")).content.decode()
    assert world["attachment"].effector.display_name not in page
    assert "Demandes de transfert" not in page
    history = client_for(world["users"]["B"]).get(reverse("effectors:history")).content.decode()
    assert world["attachment"].effector.professional.rpps not in history


def test_attaching_always_attaches_to_the_logged_in_officine(world):
    a, b, _ = world["pharmacies"]
    other = factories.ProfessionalFactory()
    client_for(world["users"]["B"]).post(
        reverse("effectors:attach"), {"identifiant": other.rpps, "pharmacy": a.pk, "pharmacy_id": a.pk}
    )
    assert Attachment.objects.get(effector__professional=other).pharmacy == b


def every_url(world) -> list[tuple[str, str]]:
    return [
        ("get", reverse("effectors:list")),
        ("get", reverse("effectors:search") + "?q=DUPONT"),
        ("post", reverse("effectors:attach")),
        ("get", reverse("effectors:history")),
        ("post", reverse("effectors:transfer_request")),
        *object_urls(world),
    ]


def test_staff_and_ars_accounts_are_refused(world):
    staff = client_for(factories.StaffUserFactory())
    ars = client_for(factories.StaffUserFactory(is_staff=False, region=factories.region("11")))
    for client in (staff, ars):
        for method, url in every_url(world):
            assert getattr(client, method)(url).status_code == 403, (method, url)


def test_anonymous_visitors_go_to_the_login_page(world):
    anonymous = Client()
    for method, url in every_url(world):
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302 and "login" in response["Location"], (method, url)
