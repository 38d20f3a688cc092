"""'Mes demandes': an officine sees its own requests and the replies, never another's, never the notes."""

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from tests import factories
from tests.portal.conftest import login_agent
from vaccine_orders.audit.actors import Actor
from vaccine_orders.portal import services

pytestmark = pytest.mark.django_db

LIST = reverse("support_my_requests")


def detail(support_request) -> str:
    return reverse("support_my_request_detail", args=[support_request.reference])


def test_a_pharmacy_lists_only_its_own_requests(client_a, pharmacy_a, pharmacy_b, django_assert_max_num_queries):
    mine = [factories.SupportRequestFactory(pharmacy=pharmacy_a) for _ in range(3)]
    theirs = factories.SupportRequestFactory(pharmacy=pharmacy_b)
    anonymous_with_my_finess = factories.SupportRequestFactory(finess=pharmacy_a.finess)
    with django_assert_max_num_queries(12):
        response = client_a.get(LIST)
    assert response.status_code == 200
    references = [a.get_text(strip=True) for a in BeautifulSoup(response.content, "html.parser").select("tbody a")]
    assert sorted(references) == sorted(r.reference for r in mine)
    assert theirs.reference not in references
    # A FINESS typed by someone not logged in proves nothing: that request is not the officine's.
    assert anonymous_with_my_finess.reference not in references


def test_the_list_costs_the_same_queries_with_many_requests(client_a, pharmacy_a, django_assert_num_queries):
    factories.SupportRequestFactory(pharmacy=pharmacy_a)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client_a.get(LIST)
    for _ in range(15):
        factories.SupportRequestFactory(pharmacy=pharmacy_a)
    with django_assert_num_queries(len(few.captured_queries)):
        client_a.get(LIST)


def test_a_pharmacy_reads_its_request_with_replies_but_not_internal_notes(client_a, pharmacy_a):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a, message="Ma commande a disparu.")
    agent = Actor.system("Agent support")
    services.support_note_add(support_request=support_request, actor=agent, body="NOTE-SECRETE officine difficile")
    services.support_reply_add(support_request=support_request, actor=agent, body="Elle est bien enregistrée.")
    page = client_a.get(detail(support_request)).content.decode()
    assert "Ma commande a disparu." in page
    assert "Elle est bien enregistrée." in page
    assert "NOTE-SECRETE" not in page
    assert "Répondue" in page


def test_another_pharmacys_request_is_not_found(client_b, pharmacy_a):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a)
    assert client_b.get(detail(support_request)).status_code == 404


def test_an_anonymous_request_is_nobodys_even_with_the_finess(client_a, pharmacy_a):
    support_request = factories.SupportRequestFactory(finess=pharmacy_a.finess)
    assert client_a.get(detail(support_request)).status_code == 404


def test_an_unknown_reference_is_not_found(client_a):
    assert client_a.get(reverse("support_my_request_detail", args=["SUP-NOPE"])).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(client, pharmacy_a):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a)
    for url in (LIST, detail(support_request)):
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"] or "connexion" in response["Location"]


def test_agents_are_not_pharmacies(client, support_agent, pharmacy_a):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a)
    login_agent(client, support_agent)
    assert client.get(LIST).status_code == 403
    assert client.get(detail(support_request)).status_code == 403


def test_the_menu_has_mes_demandes_for_pharmacies_only(client, client_a):
    menu = BeautifulSoup(client_a.get("/").content, "html.parser").select_one("#fr-navigation")
    assert "Mes demandes" in menu.get_text()
    client.logout()
    menu = BeautifulSoup(client.get("/").content, "html.parser").select_one("#fr-navigation")
    assert "Mes demandes" not in menu.get_text()
    assert "Actualités" in menu.get_text()
    assert "Besoin d'aide ?" in menu.get_text()


def test_the_footer_links_to_help_and_support(client):
    footer = BeautifulSoup(client.get("/").content, "html.parser").select_one("footer")
    links = {a.get_text(strip=True): a["href"] for a in footer.select("a")}
    assert links["Besoin d'aide ?"] == reverse("help")
    assert links["Contacter le support"] == reverse("support_request")
