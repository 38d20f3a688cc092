"""The rules page of a session: one grid, contradictions refused, copy of the previous session, changes to
an open session audited with the orders they put over the cap — and seed 003's table end to end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from effectors.models import EffectorType
from sessions_calendar.errors import SessionError
from sessions_calendar.models import CapRule, ProductOffer
from sessions_calendar.rules import Cell, ProductRules, cell_field, product_field
from sessions_calendar.selectors import session_rules
from sessions_calendar.services import rules_validate, session_rules_save
from tests import factories
from tests.psc import login_agent
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import OrderLine, Product

from .helpers import form_values, make_session, open_session_now

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("Test")


def rules_url(session) -> str:
    return reverse("admin:sessions_calendar_ordersession_rules", args=[session.pk])


def grid_data(client, session) -> dict[str, str]:
    response = client.get(rules_url(session))
    assert response.status_code == 200
    return form_values(response.content, "#content-main form")


def set_cell(data, product, effector_type, mode, limit=None, rank=0) -> None:
    data[cell_field(product.pk, rank, effector_type.pk, "mode")] = mode
    data[cell_field(product.pk, rank, effector_type.pk, "limit")] = "" if limit is None else str(limit)


def open_product(data, product, *, stock=None, box=None) -> None:
    data[product_field(product.pk, "open")] = "on"
    data[product_field(product.pk, "stock")] = "" if stock is None else str(stock)
    data[product_field(product.pk, "box")] = "" if box is None else str(box)


def enter_seed_003(data, catalogue, types) -> None:
    """DGS-Urgent 2021_60 (seed 003), as an SpF agent types it into the grid."""
    az, janssen, moderna = catalogue["astrazeneca"], catalogue["janssen"], catalogue["moderna"]
    open_product(data, az)
    for rank in (1, 2):
        set_cell(data, az, types["doctor"], "per_effector", 5, rank=rank)  # « Jusqu'à 5 flacons par médecin »
        set_cell(data, az, types["pharmacist"], "per_pharmacy", 5, rank=rank)  # « Jusqu'à 5 flacons par officine »
    set_cell(data, az, types["nurse"], "per_effector", 10, rank=1)  # « Jusqu'à 10 flacon par IDE » (total line)
    set_cell(data, az, types["nurse"], "closed", rank=2)
    set_cell(data, az, types["midwife"], "per_effector", 10, rank=1)  # « Jusqu'à 10 flacon par sage-femme »
    set_cell(data, az, types["midwife"], "closed", rank=2)
    open_product(data, janssen)  # « 10 flacons maximum par professionnel de santé »
    for code in ("pharmacist", "doctor", "nurse", "midwife"):
        set_cell(data, janssen, types[code], "per_effector", 10)
    # « chaque médecin du travail pourra commander une boîte de 10 flacons », « dans la limite des doses
    # disponibles » (first come, first served).
    open_product(data, moderna, stock=600, box=10)
    set_cell(data, moderna, types["occupational_doctor"], "per_effector", 10)


SEED_003_RULES = {
    ("astrazeneca", "doctor", 1, "per_effector", 5),
    ("astrazeneca", "doctor", 2, "per_effector", 5),
    ("astrazeneca", "pharmacist", 1, "per_pharmacy", 5),
    ("astrazeneca", "pharmacist", 2, "per_pharmacy", 5),
    ("astrazeneca", "nurse", 1, "per_effector", 10),
    ("astrazeneca", "nurse", 2, "closed", None),
    ("astrazeneca", "midwife", 1, "per_effector", 10),
    ("astrazeneca", "midwife", 2, "closed", None),
    ("janssen", "pharmacist", 0, "per_effector", 10),
    ("janssen", "doctor", 0, "per_effector", 10),
    ("janssen", "nurse", 0, "per_effector", 10),
    ("janssen", "midwife", 0, "per_effector", 10),
    ("moderna", "occupational_doctor", 0, "per_effector", 10),
}


def stored_rules(session) -> set[tuple]:
    return set(
        CapRule.objects.filter(offer__session=session).values_list(
            "offer__product__code", "effector_type__code", "injection_rank", "mode", "limit"
        )
    )


def test_the_seed_003_table_entered_on_the_rules_page_gives_exactly_its_rows(admin_client, catalogue, types):
    session = open_session_now()
    data = grid_data(admin_client, session)
    enter_seed_003(data, catalogue, types)
    response = admin_client.post(rules_url(session), data)
    assert response.status_code == 302, BeautifulSoup(response.content, "html.parser").select_one(".errornote")
    assert stored_rules(session) == SEED_003_RULES
    offers = {
        o.product.code: (o.national_stock, o.box_size, o.stock_taken) for o in session.offers.select_related("product")
    }
    assert offers == {"astrazeneca": (None, None, 0), "janssen": (None, None, 0), "moderna": (600, 10, 0)}
    event = AuditEvent.objects.get(action="session.rules_update")
    assert event.after["rules"]["moderna"] == {
        "stock": 600,
        "box": 10,
        "cells": {"occupational_doctor": "per_effector:10"},
    }
    # Saved rules come back in the grid as they were entered.
    again = grid_data(admin_client, session)
    assert again[cell_field(catalogue["astrazeneca"].pk, 2, types["nurse"].pk, "mode")] == "closed"
    assert again[product_field(catalogue["moderna"].pk, "stock")] == "600"


def test_the_seed_003_caps_apply_through_the_ordering_service(admin_client, catalogue, types, pharmacy_a):
    """Acceptance: the table entered through the rules page gives, through the ordering service, the caps
    that seed 003 states."""
    from vaccine_orders.orders.caps import CellKey, check_quantities
    from vaccine_orders.orders.selectors import order_grid
    from vaccine_orders.orders.services import OrderError, order_submit

    session = open_session_now()
    data = grid_data(admin_client, session)
    enter_seed_003(data, catalogue, types)
    assert admin_client.post(rules_url(session), data).status_code == 302

    own = factories.own_effector(pharmacy_a, "pharmacist")
    nurses = factories.own_effector(pharmacy_a, "nurse")
    doctor = factories.attached_effector(pharmacy_a, "doctor")
    midwife = factories.attached_effector(pharmacy_a, "midwife")
    occupational = factories.attached_effector(pharmacy_a, "occupational_doctor")
    dentist = factories.attached_effector(pharmacy_a, "dental_surgeon")
    az, janssen, moderna = catalogue["astrazeneca"].pk, catalogue["janssen"].pk, catalogue["moderna"].pk

    grid = order_grid(pharmacy=pharmacy_a, session=session)
    open_cells = {(k.effector_id, k.product_id, k.rank) for k in grid.cells}
    assert open_cells == {
        (doctor.pk, az, 1), (doctor.pk, az, 2), (own.pk, az, 1), (own.pk, az, 2),
        (nurses.pk, az, 1), (midwife.pk, az, 1),  # 2nde injection closed to nurses and midwives
        (own.pk, janssen, 0), (doctor.pk, janssen, 0), (nurses.pk, janssen, 0), (midwife.pk, janssen, 0),
        (occupational.pk, moderna, 0),  # Moderna: occupational doctors only
    }  # fmt: skip
    assert not any(k.effector_id == dentist.pk for k in grid.cells)

    def refused(quantities: dict[CellKey, int]) -> bool:
        return not check_quantities(cells=grid.cells, quantities=quantities, stocks=grid.stocks, labels=grid.labels).ok

    cases = [
        (CellKey(doctor.pk, az, 1), 5, 6),  # 5 per doctor per rank
        (CellKey(doctor.pk, az, 2), 5, 6),
        (CellKey(own.pk, az, 1), 5, 6),  # 5 per pharmacy per rank
        (CellKey(own.pk, az, 2), 5, 6),
        (CellKey(midwife.pk, az, 1), 10, 11),  # 10 per midwife
        (CellKey(nurses.pk, az, 1), 10, 11),  # the nurses' total line: 10
        (CellKey(doctor.pk, janssen, 0), 10, 11),  # Janssen: 10 per professional
        (CellKey(own.pk, janssen, 0), 10, 11),
        (CellKey(nurses.pk, janssen, 0), 10, 11),
        (CellKey(occupational.pk, moderna, 0), 10, 20),  # Moderna: one box of 10
    ]
    for key, allowed, too_many in cases:
        assert not refused({key: allowed}), key
        assert refused({key: too_many}), key
    assert refused({CellKey(occupational.pk, moderna, 0): 5})  # whole boxes only
    assert refused({CellKey(midwife.pk, az, 2): 1})  # closed rank

    # And through order_submit itself, within the national stock, first come first served.
    result = order_submit(
        pharmacy=pharmacy_a,
        session=session,
        quantities={CellKey(occupational.pk, moderna, 0): 10, CellKey(doctor.pk, az, 1): 5},
        base_version=0,
        submission_token="t1",
        actor=ACTOR,
    )
    assert result.created
    assert ProductOffer.objects.get(session=session, product_id=moderna).stock_taken == 10
    with pytest.raises(OrderError):
        order_submit(
            pharmacy=pharmacy_a,
            session=session,
            quantities={CellKey(occupational.pk, moderna, 0): 10, CellKey(doctor.pk, az, 1): 6},
            base_version=result.order.version,
            submission_token="t2",
            actor=ACTOR,
        )
    ProductOffer.objects.filter(session=session, product_id=moderna).update(stock_taken=600)
    other = factories.PharmacyFactory()
    other_doctor = factories.attached_effector(other, "occupational_doctor")
    with pytest.raises(OrderError):  # the national stock is exhausted: refused, never oversold
        order_submit(
            pharmacy=other,
            session=session,
            quantities={CellKey(other_doctor.pk, moderna, 0): 10},
            base_version=0,
            submission_token="t3",
            actor=ACTOR,
        )


@pytest.mark.parametrize(
    ("enter", "message"),
    [
        (
            lambda d, c, t: set_cell(d, c["janssen"], t["doctor"], "per_effector", 5),
            "Janssen / Médecin : règle « Jusqu'à 5 unités par effecteur » sur un produit qui n'est pas ouvert",
        ),
        (
            lambda d, c, t: d.update({product_field(c["janssen"].pk, "stock"): "100"}),
            "Janssen : un stock national est indiqué mais le produit n'est pas ouvert à la commande.",
        ),
        (
            lambda d, c, t: d.update({product_field(c["janssen"].pk, "box"): "10"}),
            "Janssen : une taille de boîte est indiquée mais le produit n'est pas ouvert à la commande.",
        ),
        (
            lambda d, c, t: (open_product(d, c["janssen"]), set_cell(d, c["janssen"], t["doctor"], "per_effector")),
            "Janssen / Médecin : indiquez un plafond (au moins 1) pour « Jusqu'à N par effecteur ».",
        ),
        (
            lambda d, c, t: (open_product(d, c["janssen"]), set_cell(d, c["janssen"], t["doctor"], "unlimited", 5)),
            "un plafond chiffré ne va qu'avec « par effecteur » ou « par officine »",
        ),
        (
            lambda d, c, t: (
                open_product(d, c["janssen"], box=10),
                set_cell(d, c["janssen"], t["doctor"], "per_effector", 5),
            ),
            "le plafond (5) n'est pas un nombre entier de boîtes de 10",
        ),
        (
            lambda d, c, t: (
                open_product(d, c["janssen"], stock=5),
                set_cell(d, c["janssen"], t["doctor"], "per_effector", 10),
            ),
            "le plafond (10) dépasse le stock national (5)",
        ),
        (
            lambda d, c, t: (open_product(d, c["janssen"]), set_cell(d, c["janssen"], t["doctor"], "closed")),
            "Janssen est ouvert à la commande mais aucun type d'effecteur ne peut le commander",
        ),
        (
            lambda d, c, t: (open_product(d, c["janssen"]), set_cell(d, c["janssen"], t["doctor"], "", 5)),
            "un plafond est saisi sans règle",
        ),
    ],
    ids=[
        "cap-on-closed-product",
        "stock-on-closed-product",
        "box-on-closed-product",
        "limit-missing",
        "limit-with-unlimited",
        "limit-not-whole-boxes",
        "limit-above-stock",
        "open-but-nobody",
        "limit-without-mode",
    ],
)
def test_contradictions_are_refused_with_a_french_message_and_nothing_is_written(
    admin_client, catalogue, types, enter, message
):
    session = open_session_now()
    data: dict[str, str] = {}  # a session without rules posts empty cells, the same as absent ones
    enter(data, catalogue, types)
    response = admin_client.post(rules_url(session), data)
    assert response.status_code == 400
    soup = BeautifulSoup(response.content, "html.parser")
    summary = soup.select_one(".sc-error-summary").get_text(" ", strip=True)
    assert message in summary
    assert not ProductOffer.objects.filter(session=session).exists()
    assert not AuditEvent.objects.filter(action="session.rules_update").exists()


def test_rank_cells_must_match_the_product(catalogue, types):
    az, janssen = catalogue["astrazeneca"], catalogue["janssen"]
    rules = {
        az.pk: ProductRules(is_open=True, cells={(types["doctor"].pk, 0): Cell("unlimited")}),
        janssen.pk: ProductRules(is_open=True, cells={(types["doctor"].pk, 1): Cell("unlimited")}),
    }
    with pytest.raises(SessionError) as error:
        rules_validate(
            rules=rules,
            products={p.pk: p for p in Product.objects.all()},
            types={t.pk: t for t in EffectorType.objects.all()},
        )
    text = " ".join(error.value.errors)
    assert "AstraZeneca se commande par rang d'injection" in text
    assert "Janssen ne se commande pas par rang d'injection" in text


def test_the_stock_cannot_go_below_what_orders_already_took(catalogue, types):
    session = open_session_now()
    moderna = catalogue["moderna"]
    cells = {(types["occupational_doctor"].pk, 0): Cell("per_effector", 10)}
    session_rules_save(session=session, rules={moderna.pk: ProductRules(True, 600, 10, dict(cells))}, actor=ACTOR)
    ProductOffer.objects.filter(session=session).update(stock_taken=120)
    with pytest.raises(SessionError) as error:
        session_rules_save(session=session, rules={moderna.pk: ProductRules(True, 100, 10, dict(cells))}, actor=ACTOR)
    assert "ne peut être inférieur aux 120 unités déjà réservées" in error.value.errors[0]
    with pytest.raises(SessionError) as error:
        session_rules_save(session=session, rules={}, actor=ACTOR)
    assert "ne peut pas être retiré de la session" in error.value.errors[0]
    offer = ProductOffer.objects.get(session=session)
    assert (offer.national_stock, offer.stock_taken) == (600, 120)
    # Raising the stock keeps what orders took (stock_taken is the ordering service's counter).
    session_rules_save(session=session, rules={moderna.pk: ProductRules(True, 800, 10, dict(cells))}, actor=ACTOR)
    offer.refresh_from_db()
    assert (offer.national_stock, offer.stock_taken) == (800, 120)


def test_copying_the_previous_session_prefills_the_grid_without_saving(admin_client, catalogue, types):
    previous = make_session(date(2023, 7, 17))
    ProductOffer.objects.create(session=previous, product=catalogue["janssen"], box_size=None)
    CapRule.objects.create(offer=previous.offers.get(), effector_type=types["doctor"], mode="per_effector", limit=10)
    make_session(date(2023, 7, 24))  # a later session without rules is not "the previous one" for the next
    session = open_session_now()
    response = admin_client.get(rules_url(session), {"copier": "1"})
    content = response.content.decode()
    assert "Règles copiées depuis la session du 17 juillet 2023 au 18 juillet 2023" in content
    data = form_values(response.content, "#content-main form")
    assert data[product_field(catalogue["janssen"].pk, "open")] == "on"
    assert data[cell_field(catalogue["janssen"].pk, 0, types["doctor"].pk, "limit")] == "10"
    assert not session.offers.exists()  # nothing saved until "Enregistrer les règles"
    assert admin_client.post(rules_url(session), data).status_code == 302
    assert stored_rules(session) == {("janssen", "doctor", 0, "per_effector", 10)}


def test_copying_without_a_previous_session_says_so(admin_client, catalogue):
    session = open_session_now()
    response = admin_client.get(rules_url(session), {"copier": "1"}, follow=True)
    text = BeautifulSoup(response.content, "html.parser").get_text()
    assert "Aucune session précédente n'a de règles à copier." in text


def test_a_change_on_an_open_session_is_audited_and_lists_the_orders_it_puts_over_the_cap(
    admin_client, catalogue, types, pharmacy_a, pharmacy_b
):
    session = open_session_now()
    janssen = catalogue["janssen"]
    session_rules_save(
        session=session,
        rules={janssen.pk: ProductRules(True, None, None, {(types["doctor"].pk, 0): Cell("per_effector", 10)})},
        actor=ACTOR,
    )
    order_a = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    line_a = factories.OrderLineFactory(
        order=order_a, effector=factories.attached_effector(pharmacy_a), product=janssen, quantity_requested=8
    )
    order_b = factories.OrderFactory(pharmacy=pharmacy_b, session=session)
    factories.OrderLineFactory(
        order=order_b, effector=factories.attached_effector(pharmacy_b), product=janssen, quantity_requested=4
    )

    data = grid_data(admin_client, session)
    set_cell(data, janssen, types["doctor"], "per_effector", 5)
    response = admin_client.post(rules_url(session), data, follow=True)
    content = response.content.decode()
    assert "Règles enregistrées : 1 modification(s)." in content
    assert "1 élément(s) de commandes existantes dépassent désormais les règles" in content
    soup = BeautifulSoup(response.content, "html.parser")
    over = soup.select("#depassements tbody tr")
    assert len(over) == 1
    assert order_a.reference in over[0].get_text() and "plafond 5 par effecteur" in over[0].get_text()

    line_a.refresh_from_db()
    assert line_a.quantity_requested == 8  # existing orders are never rewritten
    event = AuditEvent.objects.get(action="session.rules_update", summary__contains="Jusqu'à 5")
    assert "Médecin : Jusqu'à 10 unités par effecteur → Jusqu'à 5 unités par effecteur" in event.summary
    assert event.after["newly_over_cap"] == [
        {"order": order_a.reference, "reason": "per_effector", "product": "Janssen", "quantity": 8, "allowed": 5}
    ]
    assert event.actor_label == "admin@example.com"  # the agent who saved, not "Système"


def test_saving_unchanged_rules_writes_nothing(admin_client, catalogue, types):
    session = open_session_now()
    data = grid_data(admin_client, session)
    response = admin_client.post(rules_url(session), data, follow=True)
    assert "Aucune modification" in response.content.decode()
    assert not AuditEvent.objects.filter(action="session.rules_update").exists()


def test_the_rules_page_of_a_closed_session_is_read_only(admin_client, catalogue, types):
    session = make_session(date(2023, 7, 17))
    response = admin_client.get(rules_url(session))
    soup = BeautifulSoup(response.content, "html.parser")
    assert "est close depuis le mardi 18 juillet 2023 à 23 h" in soup.select_one(".errornote").get_text()
    assert soup.select_one("input[type=submit][value='Enregistrer les règles']") is None
    assert all(el.has_attr("disabled") for el in soup.select(".sc-grid select"))
    response = admin_client.post(rules_url(session), {product_field(catalogue["janssen"].pk, "open"): "on"})
    assert not ProductOffer.objects.filter(session=session).exists()


def test_products_closed_on_the_page_lose_their_offer(catalogue, types):
    session = open_session_now()
    janssen = catalogue["janssen"]
    cells = {(types["doctor"].pk, 0): Cell("unlimited")}
    session_rules_save(session=session, rules={janssen.pk: ProductRules(True, None, None, cells)}, actor=ACTOR)
    result = session_rules_save(session=session, rules={janssen.pk: ProductRules(False)}, actor=ACTOR)
    assert [c.text for c in result.changes] == [
        "n'est plus ouvert à la commande",
        "Médecin : Non limité → pas de règle",
    ]
    assert session_rules(session=session) == {}


def test_rules_page_access(client, catalogue, django_user_model, user_a):
    session = open_session_now()
    url = rules_url(session)
    assert client.get(url).status_code == 302  # anonymous → admin login
    client.force_login(user_a)  # an officine's account is not staff
    assert client.get(url).status_code == 302
    agent = django_user_model.objects.create_user("agent-sans-droit", "a@example.org", "pw", is_staff=True)
    login_agent(client, agent)  # staff (with the second factor) without the permission to change sessions
    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403


def test_the_grid_is_labelled_for_keyboard_and_screen_reader_users(admin_client, catalogue, types):
    session = open_session_now()
    soup = BeautifulSoup(admin_client.get(rules_url(session)).content, "html.parser")
    controls = soup.select(".sc-grid select, .sc-grid input")
    assert len(controls) > 100
    for control in controls:
        label = control.get("aria-label") or soup.select_one(f"label[for='{control.get('id')}']")
        assert label, control
    assert not soup.select(".sc-grid [tabindex]:not([tabindex='0'])")  # natural tab order
    az_doctor = soup.select_one(f"#id_{cell_field(catalogue['astrazeneca'].pk, 1, types['doctor'].pk, 'mode')}")
    assert az_doctor["aria-label"] == "AstraZeneca (1re injection) – Médecin : règle"
    assert [o.get_text() for o in az_doctor.select("option")] == [
        "— pas de règle",
        "Non ouvert à la commande",
        "Non limité",
        "Jusqu'à N par effecteur",
        "Jusqu'à N par officine",
    ]


def test_the_rules_page_reads_a_bounded_number_of_queries(
    admin_client, catalogue, types, django_assert_max_num_queries
):
    session = open_session_now()
    session_rules_save(
        session=session,
        rules={
            p.pk: ProductRules(
                True,
                None,
                None,
                {
                    (t.pk, r): Cell("unlimited")
                    for t in types.values()
                    for r in ((1, 2) if p.has_injection_rank else (0,))
                },
            )
            for p in catalogue.values()
        },
        actor=ACTOR,
    )
    for _ in range(3):
        order = factories.OrderFactory(pharmacy=factories.PharmacyFactory(), session=session)
        factories.OrderLineFactory(order=order, product=catalogue["janssen"], quantity_requested=3)
    with django_assert_max_num_queries(20):
        assert admin_client.get(rules_url(session)).status_code == 200


def test_an_order_line_quantity_is_untouched_when_a_product_is_closed(catalogue, types, pharmacy_a):
    session = open_session_now()
    janssen = catalogue["janssen"]
    session_rules_save(
        session=session,
        rules={janssen.pk: ProductRules(True, None, None, {(types["doctor"].pk, 0): Cell("unlimited")})},
        actor=ACTOR,
    )
    line = factories.OrderLineFactory(
        order=factories.OrderFactory(pharmacy=pharmacy_a, session=session),
        effector=factories.attached_effector(pharmacy_a),
        product=janssen,
        quantity_requested=7,
    )
    result = session_rules_save(session=session, rules={}, actor=ACTOR)
    assert [(o.reason, o.quantity, o.allowed) for o in result.newly_over_cap] == [("closed", 7, 0)]
    assert OrderLine.objects.get(pk=line.pk).quantity_requested == 7
    assert timedelta(0) < session.closes_at - session.opens_at


def test_a_product_withdrawn_from_the_catalogue_cannot_be_opened_but_may_stay_open(catalogue, types):
    session = open_session_now()
    janssen = catalogue["janssen"]
    cells = {(types["doctor"].pk, 0): Cell("unlimited")}
    session_rules_save(session=session, rules={janssen.pk: ProductRules(True, None, None, dict(cells))}, actor=ACTOR)
    Product.objects.filter(pk__in=[janssen.pk, catalogue["novavax"].pk]).update(is_active=False)
    session_rules_save(  # the session already offers Janssen: other edits are not blocked
        session=session,
        rules={janssen.pk: ProductRules(True, 100, None, dict(cells))},
        actor=ACTOR,
    )
    with pytest.raises(SessionError, match="corrigez les points signalés") as error:
        session_rules_save(
            session=session,
            rules={
                janssen.pk: ProductRules(True, 100, None, dict(cells)),
                catalogue["novavax"].pk: ProductRules(True, None, None, dict(cells)),
            },
            actor=ACTOR,
        )
    assert error.value.errors == ["Novavax n'est plus actif au catalogue : il ne peut pas être ouvert."]
