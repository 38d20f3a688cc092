""" "Suivi de commande": the officine sees ordered vs confirmed, reasons, delivery date, deliveries and the
PDF, only for its own orders (404 otherwise) and only after publication."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from fulfilment.selectors import publication_instant
from fulfilment.services import line_confirm, line_mark_delivered, lines_confirm_as_ordered
from tests import factories
from tests.fulfilment.conftest import line_of

pytestmark = pytest.mark.django_db

SECRET_REASON = "Motif-confidentiel-avant-publication"


def _urls(order):
    return {
        "detail": reverse("fulfilment:detail", args=[order.reference]),
        "pdf": reverse("fulfilment:summary_pdf", args=[order.reference]),
    }


@pytest.fixture
def confirmed_before_publication(closed_cast, staff_actor):
    """Closed session, confirmed with a distinctive reduction, not yet published."""
    lines_confirm_as_ordered(session=closed_cast.session, actor=staff_actor)
    line = line_of(closed_cast, closed_cast.ehpad)
    line_confirm(line_id=line.pk, quantity=17, reason=SECRET_REASON, actor=staff_actor)
    return closed_cast


def test_the_list_shows_the_state_of_each_order(client_a, published_cast, closed_cast, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = client_a.get(reverse("fulfilment:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert published_cast.order.reference in html and closed_cast.order.reference in html
    assert "Confirmée" in html
    assert "En cours de traitement" in html


def test_the_list_query_count_does_not_grow_with_orders(client_a, pharmacy_a, django_assert_max_num_queries):
    from tests.fulfilment.conftest import add_order, make_session, moderna

    product = moderna()
    for week in range(8):
        session = make_session("published", now=timezone.now() - timedelta(weeks=week))
        add_order(pharmacy_a, session, [(factories.own_effector(pharmacy_a), product, 2)])
    with django_assert_max_num_queries(12):
        assert client_a.get(reverse("fulfilment:list")).status_code == 200


def test_before_publication_the_page_says_en_cours_de_traitement_and_leaks_nothing(
    client_a, confirmed_before_publication
):
    cast = confirmed_before_publication
    response = client_a.get(_urls(cast.order)["detail"])
    assert response.status_code == 200
    html = response.content.decode()
    assert "En cours de traitement" in html
    assert SECRET_REASON not in html
    assert ">17<" not in html and "17 flacons" not in html
    assert "Confirmé" not in html
    assert "recapitulatif.pdf" not in html
    assert client_a.get(_urls(cast.order)["pdf"]).status_code == 404


def test_after_publication_the_page_shows_confirmed_reasons_delivery_and_pdf_link(
    client_a, user_a, confirmed_before_publication, django_assert_max_num_queries
):
    cast = confirmed_before_publication
    with time_machine.travel(publication_instant(session=cast.session) + timedelta(seconds=1)):
        client_a.force_login(user_a)  # the login session would have expired by then
        with django_assert_max_num_queries(15):
            response = client_a.get(_urls(cast.order)["detail"])
    html = response.content.decode()
    assert SECRET_REASON in html
    assert "Livraison prévue le" in html
    assert "à partir du lendemain" in html
    assert "recapitulatif.pdf" in html
    # Moderna: 78 requested, 65 confirmed (EHPAD 30 → 17).
    assert "78 flacons" in html and "65 flacons" in html


def test_deliveries_are_shown_to_the_pharmacy(client_a, published_cast, staff_actor):
    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    line_mark_delivered(line_id=line_of(published_cast, published_cast.ehpad).pk, quantity=12, actor=staff_actor)
    html = client_a.get(_urls(published_cast.order)["detail"]).content.decode()
    assert "12 (livraison partielle)" in html
    assert "Partiellement livrée" in html


def test_the_pdf_is_served_from_storage_after_publication(client_a, published_cast, staff_actor, run_tasks):
    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    from fulfilment.services import summary_render

    summary_render(order_id=published_cast.order.pk)
    response = client_a.get(_urls(published_cast.order)["pdf"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    reader = PdfReader(io.BytesIO(b"".join(response.streaming_content)))
    assert published_cast.order.reference in reader.pages[0].extract_text()


def test_a_stale_pdf_is_not_served_but_rendered_again(client_a, published_cast, staff_actor):
    from fulfilment.services import summary_render

    summary_render(order_id=published_cast.order.pk)  # rendered before the confirmation
    lines_confirm_as_ordered(session=published_cast.session, actor=staff_actor)
    response = client_a.get(_urls(published_cast.order)["pdf"])
    assert response.status_code == 202
    assert "en cours de préparation" in response.content.decode()


@pytest.mark.parametrize("published", [False, True])
def test_another_pharmacy_gets_404_for_the_follow_up_and_the_pdf(
    client_b, user_b, confirmed_before_publication, published
):
    cast = confirmed_before_publication
    moment = publication_instant(session=cast.session) + timedelta(seconds=1 if published else -60)
    with time_machine.travel(moment):
        client_b.force_login(user_b)
        for url in _urls(cast.order).values():
            assert client_b.get(url).status_code == 404, url
        assert cast.order.reference not in client_b.get(reverse("fulfilment:list")).content.decode()


def test_staff_and_ars_accounts_get_403_and_anonymous_users_the_login(client, published_cast):
    urls = [reverse("fulfilment:list"), *_urls(published_cast.order).values()]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(factories.StaffUserFactory())
    for url in urls:
        assert client.get(url).status_code == 403


def test_a_cancelled_order_has_no_follow_up(client_a, published_cast):
    from django.utils import timezone

    published_cast.order.status = published_cast.order.Status.CANCELLED
    published_cast.order.cancelled_at = timezone.now()
    published_cast.order.save()
    assert client_a.get(_urls(published_cast.order)["detail"]).status_code == 404


def test_the_menu_offers_suivi_de_commande_to_pharmacies_only(client_a, client):
    link = f'href="{reverse("fulfilment:list")}"'
    assert link in client_a.get(reverse("fulfilment:list")).content.decode()
    client.logout()
    assert link not in client.get(reverse("home")).content.decode()
