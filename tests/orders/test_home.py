from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from tests import factories
from vaccine_orders.orders.templatetags.orders_tags import duration_fr

pytestmark = pytest.mark.django_db


def test_the_home_page_shows_the_pharmacy_order_state_and_the_countdown(client_a, pharmacy_a):
    session = factories.OrderSessionFactory(closes_at=timezone.now() + timedelta(days=1, hours=3, minutes=30))
    page = BeautifulSoup(client_a.get("/").content, "html.parser")
    assert "Aucune commande" in page.select_one("#etat-commande-accueil").get_text()
    assert page.select_one("[data-countdown]").get_text() == "1 jour 3 h"
    assert page.select_one("#compte-a-rebours")["data-closes-at"].startswith(str(session.closes_at.year))

    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session, version=2)
    factories.OrderLineFactory(order=order)
    state = BeautifulSoup(client_a.get("/").content, "html.parser").select_one("#etat-commande-accueil").get_text()
    assert "Commande modifiée" in state and order.reference in state and "1 ligne" in state


def test_another_pharmacy_does_not_see_my_order_on_its_home(client_b, pharmacy_a):
    session = factories.OrderSessionFactory()
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    page = client_b.get("/").content.decode()
    assert order.reference not in page and "Aucune commande" in page


def test_anonymous_visitors_see_the_session_but_no_order_block(client):
    factories.OrderSessionFactory()
    page = BeautifulSoup(client.get("/").content, "html.parser")
    assert page.select_one("#compte-a-rebours") is not None
    assert page.select_one("#etat-commande-accueil") is None


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=2, hours=5, minutes=3), "2 jours 5 h"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(seconds=20), "moins d'une minute"),
        (timedelta(hours=-1), "moins d'une minute"),
    ],
)
def test_duration_in_french(delta, text):
    assert duration_fr(delta) == text
