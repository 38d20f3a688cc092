"""The pharmacist's journey through the pages: Saisie de commande → Créer → Suivant → Valider → Modifier →
Annuler; bad input field by field; wrong users; query budgets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse
from django.utils import timezone

from sessions_calendar.models import OrderSession
from tests import factories
from vaccine_orders.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def soup(response):
    return BeautifulSoup(response.content, "html.parser")


def grid_form(client, setup) -> dict[str, str]:
    """The hidden fields of the grid as the browser would post them back."""
    response = client.get(reverse("orders:entry", args=[setup.session.pk]))
    assert response.status_code == 200
    page = soup(response)
    return {
        field["name"]: field.get("value", "")
        for field in page.select("#grille-commande input")
        if field.get("name") and not field["name"].startswith("q-")
    }


def post_recap(client, setup, quantities: dict, **extra):
    data = {**grid_form(client, setup), **{k.field_name: str(v) for k, v in quantities.items()}, **extra}
    return client.post(reverse("orders:entry", args=[setup.session.pk]), data), data


def validate(client, setup, quantities: dict, **extra):
    recap, _ = post_recap(client, setup, quantities)
    assert recap.status_code == 200 and "Récapitulatif" in recap.content.decode(), recap.content.decode()[:3000]
    form = soup(recap).select_one("#form-valider")
    posted = {i["name"]: i.get("value", "") for i in form.select("input[name]")}
    posted.update(extra)
    return client.post(reverse("orders:validate", args=[setup.session.pk]), posted)


def test_the_whole_journey(client_a, setup, pharmacy_a):
    start = client_a.get(reverse("orders:start"))
    assert "Créer" in start.content.decode()
    key = setup.key(setup.doctor, setup.az, 1)
    recap, _ = post_recap(client_a, setup, {key: 4, setup.key(setup.own, setup.syringes): 2})
    text = soup(recap).get_text(" ")
    assert "Totaux par produit" in text and "Valider" in text and "Retour" in text
    assert not Order.objects.exists()  # nothing is registered before "Valider"

    response = validate(client_a, setup, {key: 4, setup.key(setup.own, setup.syringes): 2})
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("orders:detail", args=[order.reference])
    detail = client_a.get(response["Location"])
    page = soup(detail)
    assert page.select_one("#etat-commande").get_text(strip=True) == "Commande enregistrée"
    assert "Modifier" in page.get_text() and "Annuler la commande" in page.get_text()
    assert "Historique des modifications" in page.get_text()

    # "Modifier": the grid shows the registered quantities; change one; Valider.
    grid = soup(client_a.get(reverse("orders:entry", args=[setup.session.pk])))
    assert grid.select_one(f"#{key.field_name}")["value"] == "4"
    validate(client_a, setup, {key: 5, setup.key(setup.own, setup.syringes): 2})
    order.refresh_from_db()
    assert order.version == 2 and order.lines.get(effector=setup.doctor).quantity_requested == 5
    history = soup(client_a.get(reverse("orders:detail", args=[order.reference]))).select_one("#historique")
    assert "4 → 5" in history.find_next("section").get_text()


def test_retour_comes_back_to_the_grid_with_the_quantities(client_a, setup):
    key = setup.key(setup.doctor, setup.az, 1)
    recap, _ = post_recap(client_a, setup, {key: 3})
    hidden = {i["name"]: i.get("value", "") for i in soup(recap).select("#form-valider input[name]")}
    back = client_a.post(reverse("orders:entry", args=[setup.session.pk]), {**hidden, "action": "retour"})
    assert soup(back).select_one(f"#{key.field_name}")["value"] == "3"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-2", "ne peut pas être négative"),
        ("2,5", "nombre entier (pas de décimale)"),
        ("2.5", "nombre entier (pas de décimale)"),
        ("deux", "Saisissez un nombre entier, en chiffres."),
        ("1000000000000", "Quantité trop grande"),
        ("6", "Plafond dépassé"),
    ],
)
def test_bad_input_is_refused_field_by_field(client_a, setup, value, message):
    key = setup.key(setup.doctor, setup.az, 1)
    fine = setup.key(setup.own, setup.syringes)
    response, _ = post_recap(client_a, setup, {fine: 2}, **{key.field_name: value})
    page = soup(response)
    assert "Récapitulatif" not in page.select_one("h1").get_text()
    errors = page.select_one(f"#erreurs-{key.field_name}").get_text()
    assert message in errors
    assert page.select_one(f"#{key.field_name}")["aria-invalid"] == "true"
    assert page.select_one(f"#{key.field_name}")["value"] == value  # what was typed is shown back
    assert not page.select_one(f"#erreurs-{fine.field_name}").get_text(strip=True)
    assert not Order.objects.exists()


def test_not_a_box_multiple_is_refused(client_a, setup):
    key = setup.key(setup.occupational, setup.moderna)
    response, _ = post_recap(client_a, setup, {key: 5})
    assert "boîtes entières de 10" in soup(response).select_one(f"#erreurs-{key.field_name}").get_text()


def test_an_empty_order_is_refused(client_a, setup):
    response, _ = post_recap(client_a, setup, {})
    assert "Votre commande est vide" in soup(response).select_one("#grille-statut").get_text()


def test_foreign_cells_are_refused_whole(client_a, setup, pharmacy_b):
    other = factories.attached_effector(pharmacy_b, "doctor")
    closed_product = factories.ProductFactory(code="non-ouvert")
    for key in (
        setup.key(other, setup.az, 1),
        setup.key(setup.doctor, closed_product),
        setup.key(setup.ehpad, setup.syringes),
        setup.key(setup.nurses, setup.az, 2),
    ):
        response, _ = post_recap(client_a, setup, {setup.key(setup.own, setup.syringes): 1, key: 1})
        assert "n'est pas ouverte à la commande pour votre officine" in soup(response).get_text(), key
    response = validate_raw(
        client_a,
        setup,
        {setup.key(setup.own, setup.syringes).field_name: "1", setup.key(other, setup.az, 1).field_name: "3"},
    )
    assert "n'est pas ouverte à la commande" in soup(response).get_text()
    assert not Order.objects.exists()


def validate_raw(client, setup, fields: dict[str, str], version="0", token="jeton-manuel-000000001"):
    return client.post(
        reverse("orders:validate", args=[setup.session.pk]), {"version": version, "token": token, **fields}
    )


def test_tampered_hidden_fields_are_refused(client_a, setup):
    line = {setup.key(setup.own, setup.syringes).field_name: "2"}
    bad_version = validate_raw(client_a, setup, line, version="x")
    assert "altéré ou est incomplet (version)" in soup(bad_version).get_text()
    bad_token = validate_raw(client_a, setup, line, token="<script>")
    assert "altéré ou est incomplet (jeton)" in soup(bad_token).get_text()
    future_version = validate_raw(client_a, setup, line, version="7")
    assert future_version.status_code == 409 and "modifiée entre-temps" in soup(future_version).get_text()
    over_cap = validate_raw(client_a, setup, {**line, setup.key(setup.doctor, setup.az, 1).field_name: "50"})
    assert "Plafond dépassé" in soup(over_cap).get_text()
    assert not Order.objects.exists()


def test_a_post_after_close_changes_nothing_and_says_so(client_a, setup):
    key = setup.key(setup.own, setup.syringes)
    validate(client_a, setup, {key: 2})
    recap, _ = post_recap(client_a, setup, {key: 9})
    hidden = {i["name"]: i.get("value", "") for i in soup(recap).select("#form-valider input[name]")}
    OrderSession.objects.filter(pk=setup.session.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    response = client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden)
    assert response.status_code == 403
    assert "fermée depuis le" in soup(response).get_text()
    assert OrderLine.objects.get().quantity_requested == 2
    order = Order.objects.get()
    detail = soup(client_a.get(reverse("orders:detail", args=[order.reference])))
    assert "Lecture seule" in detail.get_text() and "Modifier" not in [a.get_text() for a in detail.select("a")]
    grid = client_a.get(reverse("orders:entry", args=[setup.session.pk]))
    assert grid.status_code == 403
    cancel = client_a.post(reverse("orders:cancel", args=[order.reference]), {"version": "1"})
    assert cancel.status_code == 403 and Order.objects.get().status == Order.Status.REGISTERED


def test_two_tabs_the_second_save_shows_the_current_order(client_a, setup):
    key = setup.key(setup.own, setup.syringes)
    tab_one, _ = post_recap(client_a, setup, {key: 2})
    tab_two, _ = post_recap(client_a, setup, {key: 7})
    hidden_one = {i["name"]: i.get("value", "") for i in soup(tab_one).select("#form-valider input[name]")}
    hidden_two = {i["name"]: i.get("value", "") for i in soup(tab_two).select("#form-valider input[name]")}
    assert client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden_one).status_code == 302
    conflict = client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden_two)
    assert conflict.status_code == 409
    page = soup(conflict)
    assert "modifiée entre-temps" in page.get_text()
    assert "2" in page.select_one("table").get_text()  # the current order is shown
    kept = {i["name"]: i.get("value") for i in page.select("form input[name^=q-]")}
    assert kept == {key.field_name: "7"}  # the second tab's input is not lost
    assert OrderLine.objects.get().quantity_requested == 2


def test_a_double_submit_registers_one_version(client_a, setup):
    key = setup.key(setup.own, setup.syringes)
    recap, _ = post_recap(client_a, setup, {key: 2})
    hidden = {i["name"]: i.get("value", "") for i in soup(recap).select("#form-valider input[name]")}
    first = client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden)
    second = client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert Order.objects.get().version == 1


def test_cancel_the_order(client_a, setup):
    validate(client_a, setup, {setup.key(setup.own, setup.syringes): 2})
    order = Order.objects.get()
    page = client_a.get(reverse("orders:cancel", args=[order.reference]))
    assert "Confirmer l'annulation" in page.content.decode()
    client_a.post(reverse("orders:cancel", args=[order.reference]), {"version": "1"})
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and not order.lines.exists()
    stale = client_a.post(reverse("orders:cancel", args=[order.reference]), {"version": "1"})
    assert stale.status_code == 302


def test_reprendre_ma_commande_precedente_prefills_clipped_to_this_session(client_a, setup, pharmacy_a):
    earlier = factories.OrderSessionFactory(
        opens_at=setup.session.opens_at - timedelta(days=7), closes_at=setup.session.opens_at - timedelta(days=6)
    )
    previous = factories.OrderFactory(pharmacy=pharmacy_a, session=earlier, reference="CANCIENNE-1")
    OrderLine.objects.create(
        order=previous, effector=setup.doctor, product=setup.az, injection_rank=1, quantity_requested=8
    )
    OrderLine.objects.create(order=previous, effector=setup.own, product=setup.syringes, quantity_requested=4)
    response = client_a.get(reverse("orders:entry", args=[setup.session.pk]) + "?reprendre=1")
    page = soup(response)
    assert page.select_one(f"#{setup.key(setup.doctor, setup.az, 1).field_name}")["value"] == "5"
    assert page.select_one(f"#{setup.key(setup.own, setup.syringes).field_name}")["value"] == "4"
    assert "réduites ou retirées" in page.get_text()


def test_live_check_with_htmx_returns_totals_and_cap_messages(client_a, setup):
    key = setup.key(setup.doctor, setup.az, 1)
    data = {**grid_form(client_a, setup), key.field_name: "7"}
    response = client_a.post(reverse("orders:entry", args=[setup.session.pk]), data, HTTP_HX_REQUEST="true")
    page = soup(response)
    assert page.select_one(f"#erreurs-{key.field_name}")["hx-swap-oob"] == "true"
    assert "Plafond dépassé" in page.select_one(f"#erreurs-{key.field_name}").get_text()
    assert page.select_one(f"#total-{setup.az.pk}").get_text(strip=True).startswith("7 flacons")
    assert "Reste : 0" in page.select_one(f"#reste-{key.field_name}").get_text()
    assert not Order.objects.exists()


def test_history_and_csv(client_a, setup, pharmacy_a):
    validate(
        client_a,
        setup,
        {
            setup.key(setup.doctor, setup.az, 1): 4,
            setup.key(setup.ehpad, setup.syringes): 0,
            setup.key(setup.own, setup.syringes): 2,
        },
    )
    page = soup(client_a.get(reverse("orders:history") + "?nature=professional"))
    rows = page.select("tbody tr")
    assert len(rows) == 1 and setup.doctor.display_name in rows[0].get_text()
    csv = client_a.get(reverse("orders:history") + "?format=csv")
    body = b"".join(csv.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffSession (ouverture);")
    assert len(body.strip().splitlines()) == 3
    assert setup.doctor.professional.rpps in body
    bad_date = client_a.get(reverse("orders:history") + "?du=31/02/2026")
    assert "invalide" in soup(bad_date).get_text()


# --- who may see what --------------------------------------------------------------------------


def test_another_pharmacy_gets_404_on_an_order(client, setup, user_a, user_b):
    client.force_login(user_a)
    validate(client, setup, {setup.key(setup.own, setup.syringes): 2})
    order = Order.objects.get()
    client.force_login(user_b)
    assert client.get(reverse("orders:detail", args=[order.reference])).status_code == 404
    assert client.get(reverse("orders:cancel", args=[order.reference])).status_code == 404
    assert client.post(reverse("orders:cancel", args=[order.reference]), {"version": "1"}).status_code == 404
    assert Order.objects.get().status == Order.Status.REGISTERED
    history = client.get(reverse("orders:history") + "?format=csv")
    assert order.reference not in b"".join(history.streaming_content).decode()


@pytest.mark.parametrize("name", ["orders:list", "orders:start", "orders:history"])
def test_non_pharmacy_users_get_403_and_anonymous_go_to_login(client, name, django_user_model):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    staff = django_user_model.objects.create_user("agent", "agent@example.org", "x", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(name)).status_code == 403


def test_non_pharmacy_users_cannot_post_an_order(client, setup, django_user_model):
    staff = django_user_model.objects.create_user("agent", "agent@example.org", "x", is_staff=True)
    client.force_login(staff)
    response = validate_raw(client, setup, {setup.key(setup.own, setup.syringes).field_name: "1"})
    assert response.status_code == 403 and not Order.objects.exists()


def test_an_unknown_session_is_404(client_a):
    assert client_a.get(reverse("orders:entry", args=[999999])).status_code == 404


# --- query budgets -------------------------------------------------------------------------------


def _many_doctors(pharmacy, count):
    for _ in range(count):
        factories.attached_effector(pharmacy, "doctor")


def _queries(call) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("step", ["grid", "recap"])
def test_grid_and_recap_queries_do_not_grow_with_effectors(client_a, setup, pharmacy_a, step):
    from effectors.models import Attachment
    from vaccine_orders.orders.caps import CellKey

    url = reverse("orders:entry", args=[setup.session.pk])

    def request():
        if step == "grid":
            return lambda: client_a.get(url)
        doctors = Attachment.objects.filter(pharmacy=pharmacy_a, effector__type__code="doctor").values_list(
            "effector_id", flat=True
        )
        data = {**grid_form(client_a, setup), **{CellKey(e, setup.az.pk, 1).field_name: "1" for e in doctors}}
        return lambda: client_a.post(url, data)

    small = _queries(request())
    _many_doctors(pharmacy_a, 298)  # 2 doctors already + 298 = 300
    large = _queries(request())
    assert large == small
    assert small <= 20


@pytest.mark.postgres
def test_validation_queries_do_not_grow_with_effectors(client, setup, pharmacy_a, user_a, user_b, pharmacy_b):
    """On PostgreSQL bulk writes are one statement whatever their size (SQLite splits them in batches).
    The same path is measured twice: a new order for 2 doctors, then a new order for 300 doctors."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from effectors.models import Attachment
    from vaccine_orders.orders.caps import CellKey

    ContentType.objects.get_for_model(Order)  # a cache warmed once per process, not per request

    def run(user, pharmacy):
        client.force_login(user)
        doctors = Attachment.objects.filter(pharmacy=pharmacy, effector__type__code="doctor").values_list(
            "effector_id", flat=True
        )
        fields = {CellKey(e, setup.az.pk, 1).field_name: "1" for e in doctors}
        with CaptureQueriesContext(connection) as captured:
            response = validate_raw(client, setup, fields, token=f"budget-jeton-{pharmacy.pk}-0000001")
        assert response.status_code == 302
        assert Order.objects.get(pharmacy=pharmacy).lines.count() == len(fields)
        return len(captured)

    small = run(user_a, pharmacy_a)
    _many_doctors(pharmacy_b, 300)
    large = run(user_b, pharmacy_b)
    assert large == small
    assert small <= 16, small  # today's budget on PostgreSQL: a new query on this path must be a choice


def test_a_validation_reads_the_service_switches_once(client_a, setup):
    """The access decorator reads the switches (pilot restriction, read-only mode); the ordering service
    checks the same ones instead of reading the row again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = validate_raw(client_a, setup, {setup.key(setup.own, setup.syringes).field_name: "2"})
    assert response.status_code == 302
    assert Order.objects.get().lines.get().quantity_requested == 2
    assert sum("portal_servicesettings" in q["sql"] for q in captured.captured_queries) == 1


def test_a_refusal_on_the_quantities_shows_the_grid_the_service_read_under_lock_without_reading_it_again(
    client_a, setup
):
    """Under the opening rush most refusals are "stock exhausted": the grid the ordering service decided on
    is the one shown, so a refused order reads the grid once, and its figures are those of the refusal."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sessions_calendar.models import ProductOffer

    key = setup.key(setup.occupational, setup.moderna)
    recap, _ = post_recap(client_a, setup, {key: 10})
    hidden = {i["name"]: i.get("value", "") for i in soup(recap).select("#form-valider input[name]")}
    ProductOffer.objects.filter(pk=setup.moderna_offer.pk).update(stock_taken=995)  # 5 vials left meanwhile

    with CaptureQueriesContext(connection) as captured:
        response = client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden)
    page = soup(response)
    assert response.status_code == 200 and not Order.objects.exists()
    text = " ".join(page.get_text(" ").split())
    assert "il reste 5 flacons pour votre officine (vous en demandez 10)" in text
    assert page.select_one(f"#{key.field_name}")["value"] == "10"  # the officine's figure, kept to correct it
    assert "stock national restant 5 flacons" in text
    assert sum("sessions_calendar_caprule" in q["sql"] for q in captured.captured_queries) == 1


def test_read_only_mode_refuses_every_order_changing_post_and_nothing_changes(client_a, setup):
    from vaccine_orders.portal.models import ServiceSettings

    key = setup.key(setup.own, setup.syringes)
    validate(client_a, setup, {key: 2})
    order = Order.objects.get()
    recap, _ = post_recap(client_a, setup, {key: 5})
    hidden = {i["name"]: i.get("value", "") for i in soup(recap).select("#form-valider input[name]")}
    ServiceSettings.objects.update_or_create(
        pk=1, defaults={"read_only": True, "read_only_message": "Maintenance jusqu'à 14 h."}
    )
    for response in (
        client_a.post(reverse("orders:validate", args=[setup.session.pk]), hidden),
        client_a.post(reverse("orders:entry", args=[setup.session.pk]), hidden),
        client_a.post(reverse("orders:cancel", args=[order.reference]), {"version": "1"}),
    ):
        assert response.status_code == 503
        assert "Maintenance jusqu'à 14 h." in soup(response).get_text()
    order.refresh_from_db()
    assert order.version == 1 and order.status == Order.Status.REGISTERED
    assert OrderLine.objects.get().quantity_requested == 2
    assert client_a.get(reverse("orders:detail", args=[order.reference])).status_code == 200  # still readable
