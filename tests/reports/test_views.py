"""The reports pages: the form and its messages, the table with its totals, pagination under a fixed query
budget, the charts (readable without colour, with their data table, no inline style or script), the
requisition page, the daily reports list, the subscription, the journal of downloads, the menu entry."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fulfilment.reports.models import ReportSubscription
from tests import factories
from tests.psc import login_agent
from vaccine_orders.audit.models import AuditEvent

from .conftest import make_pharmacy

pytestmark = pytest.mark.django_db


def _soup(response) -> BeautifulSoup:
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


def _sessions(seed) -> dict:
    return {"periode": "sessions", "sessions": [seed.published.pk, seed.pending.pk]}


def test_the_reports_page_shows_the_agents_region_with_totals(client_idf, seed):
    soup = _soup(client_idf.get(reverse("reports:index"), _sessions(seed)))
    assert soup.h1.get_text() == "Rapports des commandes"
    assert "Région Île-de-France" in soup.find(id="titre-resultats").get_text()
    table = soup.find(id="rapport").table
    headers = [th.get_text() for th in table.thead.find_all("th")]
    assert headers[:4] == ["Type de professionnel", "Produit", "Unité", "Commandes"]
    total = [cell.get_text() for cell in table.tfoot.find_all(["th", "td"])]
    # Doses ordered: Comirnaty 33 vials × 6 + Spikevax 5 boxes × 10 vials × 10 doses; confirmed (published only).
    assert total[0] == "Total" and total[6] == "698" and total[9] == "532"
    assert "Pharmacie du Marché" not in soup.get_text()  # the default breakdown has no officine


def test_the_first_visit_shows_the_last_seven_days(client_idf, seed):
    soup = _soup(client_idf.get(reverse("reports:index")))
    assert "Commandes validées du" in soup.find(id="titre-resultats").find_next("p").get_text()
    rows = soup.find(id="rapport").tbody.find_all("tr")
    assert [tr.find("td").get_text() for tr in rows] == ["Pharmacien (officine)", "Sage-femme"]  # 3 days ago only


def test_the_form_explains_each_mistake(client_idf, seed):
    soup = _soup(client_idf.get(reverse("reports:index"), {"du": "2022-03-10", "au": "2022-03-01"}))
    assert "La fin de la période doit suivre son début." in soup.get_text()
    assert soup.find(id="rapport") is None
    soup = _soup(client_idf.get(reverse("reports:index"), {"periode": "sessions"}))
    assert "Choisissez au moins une session." in soup.get_text()
    soup = _soup(client_idf.get(reverse("reports:index"), {"du": "10/03/2022x"}))
    assert "Saisissez une date valide" in soup.get_text()
    soup = _soup(client_idf.get(reverse("reports:index"), {"du": "2020-01-01", "au": "2022-01-01"}))
    assert "La période ne peut dépasser un an." in soup.get_text()
    # A download with a wrong form goes back to the page that explains it.
    response = client_idf.get(reverse("reports:report_download", args=["csv"]), {"periode": "sessions"})
    assert response.status_code == 302 and response["Location"] == "/rapports/?periode=sessions"


def test_an_ars_agent_has_no_region_choice_and_only_their_departments(client_idf, seed):
    soup = _soup(client_idf.get(reverse("reports:index")))
    assert soup.find("select", attrs={"name": "region"}) is None
    departments = [o["value"] for o in soup.find("select", attrs={"name": "departement"}).find_all("option")]
    assert departments == ["", "75", "77", "78", "91", "92", "93", "94", "95"]


def test_staff_choose_among_every_region(client_spf, seed):
    soup = _soup(client_spf.get(reverse("reports:index")))
    regions = [o["value"] for o in soup.find("select", attrs={"name": "region"}).find_all("option")]
    assert regions[0] == "" and "11" in regions and "84" in regions and len(regions) == 19


def _many_pharmacies(seed, count: int) -> None:
    effector_type = "pharmacist"
    for number in range(count):
        pharmacy = make_pharmacy("75", 100 + number, name=f"Officine {number:03d}")
        order = seed.order(pharmacy, seed.published)
        seed.line(order, factories.own_effector(pharmacy, effector_type), seed.vaccine, 1 + number % 5, 1)


def _count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("reports:index"), params)
    assert response.status_code == 200
    return len(queries)


def test_the_query_budget_does_not_grow_with_the_rows(client_idf, seed, django_assert_max_num_queries):
    params = {**_sessions(seed), "ventilation": ["pharmacy", "type"]}
    few = _count_queries(client_idf, params)
    _many_pharmacies(seed, 80)
    many = _count_queries(client_idf, params)
    assert many == few
    with django_assert_max_num_queries(20):
        response = client_idf.get(reverse("reports:index"), {**params, "page": "2"})
    soup = _soup(response)
    # 80 officines with one type, Paris with 5 types, Bobigny with 2: 87 rows, 37 on page 2.
    assert len(soup.find(id="rapport").tbody.find_all("tr")) == 37
    assert "2 / 2" in soup.find(class_="fr-pagination").get_text()
    assert "(toutes les pages)" in soup.find(id="rapport").tfoot.get_text()
    next_link = soup.find(class_="fr-pagination").find("a", string="Page précédente")["href"]
    assert "ventilation=pharmacy" in next_link and "page=1" in next_link


def test_the_charts_are_readable_without_colour_and_have_a_data_table(client_idf, seed):
    response = client_idf.get(reverse("reports:index"), _sessions(seed))
    soup = _soup(response)
    svgs = soup.find_all("svg")
    assert len(svgs) == 2
    for svg in svgs:
        assert svg["role"] == "img"
        title_id, desc_id = svg["aria-labelledby"].split()
        assert svg.find("title", id=title_id).get_text() and svg.find("desc", id=desc_id).get_text()
        # Ordered bars are solid, confirmed bars hatched (a pattern), every bar has its figure as text.
        assert svg.find("pattern") is not None
        bars = [rect for rect in svg.find_all("rect") if rect.find("title")]
        assert {bar.get("fill", "").startswith("url(#") for bar in bars} == {True, False}
        values = [text.get_text() for text in svg.find_all("text", class_="cv-chart__value")]
        assert len(values) == len(bars) and all(values)
    sessions_chart = soup.find(id="graphique-sessions")
    assert "698" not in sessions_chart.get_text()
    table = sessions_chart.find_next("details").table
    rows = [[c.get_text() for c in tr.find_all(["th", "td"])] for tr in table.tbody.find_all("tr")]
    published, pending = rows
    assert published[1:] == ["2", "650", "532"]  # orders, doses ordered, doses confirmed
    assert pending[1:] == ["1", "48", "non publiées"]
    types_table = soup.find(id="graphique-types").find_next("details").table
    labels = [tr.th.get_text() for tr in types_table.tbody.find_all("tr")]
    assert labels == ["Pharmacien (officine)", "Médecin", "Sage-femme", "Infirmier (IDE)", "EHPAD"]
    # Decimal commas would break the SVG: the geometry is never localised.
    assert not re.search(r'(?:x|y|width|height)="\d+,\d', response.content.decode())


def test_no_inline_style_nor_script_on_the_reports_pages(client_idf, seed):
    for url, params in [
        (reverse("reports:index"), _sessions(seed)),
        (reverse("reports:requisition"), {**_sessions(seed), "produit": seed.vaccine.code}),
        (reverse("reports:daily_list"), {}),
    ]:
        soup = _soup(client_idf.get(url, params))
        assert not soup.select("[style]"), url
        assert not soup.find_all("style"), url
        for script in soup.find_all("script"):
            assert script.get("src"), url
        assert not any(attr.startswith("on") for tag in soup.find_all(True) for attr in tag.attrs), url


def test_the_requisition_page_lists_officines_with_their_contacts(client_idf, seed):
    soup = _soup(client_idf.get(reverse("reports:requisition")))
    assert soup.find(id="officines") is None  # nothing before a product is chosen
    soup = _soup(client_idf.get(reverse("reports:requisition"), {**_sessions(seed), "produit": seed.vaccine.code}))
    rows = [[c.get_text() for c in tr.find_all("td")] for tr in soup.find(id="officines").tbody.find_all("tr")]
    assert [row[1] for row in rows] == [seed.paris.finess, seed.bobigny.finess]
    assert rows[0][3] == "3 rue de la Paix" and rows[0][6] == seed.paris.phone and rows[0][7] == seed.paris.email
    assert rows[0][8:] == ["26", "15", "15", "90"]
    soup = _soup(client_idf.get(reverse("reports:requisition"), {"produit": "inconnu"}))
    assert "Produit inconnu." in soup.get_text()


def test_downloads_are_journaled(client_idf, seed, ars_idf):
    client_idf.get(reverse("reports:lines_download", args=["csv"]), _sessions(seed))
    event = AuditEvent.objects.get(action="report.exported")
    assert event.actor == ars_idf
    assert event.summary.startswith("Lignes de commande (CSV) – Région Île-de-France – Sessions : ")


def test_the_daily_reports_page_and_the_subscription(client_idf, seed, ars_idf):
    soup = _soup(client_idf.get(reverse("reports:daily_list")))
    assert "Aucun rapport pour le moment" in soup.get_text()
    button = soup.find(id="abonnement").find("button")
    assert button.get_text() == "Recevoir le rapport chaque matin"
    response = client_idf.post(reverse("reports:subscription"), {"abonnement": "oui"})
    assert response.status_code == 302 and response["Location"] == reverse("reports:daily_list")
    assert ReportSubscription.objects.filter(user=ars_idf).exists()
    soup = _soup(client_idf.get(reverse("reports:daily_list")))
    assert "Vous recevez chaque matin" in soup.get_text()
    assert soup.find(id="abonnement").find("button").get_text() == "Ne plus recevoir le rapport"
    client_idf.post(reverse("reports:subscription"), {"abonnement": "non"})
    assert not ReportSubscription.objects.exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["report.subscribed", "report.unsubscribed"]
    assert client_idf.get(reverse("reports:subscription")).status_code == 405


def test_staff_cannot_subscribe_and_are_told_why(client_spf, seed):
    client_spf.post(reverse("reports:subscription"), {"abonnement": "oui"})
    page = client_spf.get(reverse("reports:daily_list")).content.decode()
    assert "Seuls les agents des ARS" in page and not ReportSubscription.objects.exists()


def test_an_agent_without_an_email_cannot_subscribe(client, seed):
    from .conftest import make_agent

    agent = make_agent(region_code="11")
    agent.email = ""
    agent.save()
    login_agent(client, agent)
    client.post(reverse("reports:subscription"), {"abonnement": "oui"})
    assert not ReportSubscription.objects.exists()


def test_the_menu_shows_rapports_to_ars_agents_and_staff_only(seed, ars_idf, spf_agent, user_a):
    from django.test import Client

    def menu(c) -> dict[str, str]:
        soup = BeautifulSoup(c.get("/").content, "html.parser")
        return {a.get_text(strip=True): a["href"] for a in soup.select("#fr-navigation a")}

    agent = login_agent(Client(), ars_idf)
    assert menu(agent)["Rapports"] == "/rapports/"
    active = BeautifulSoup(agent.get("/rapports/").content, "html.parser").select_one(
        "#fr-navigation a[aria-current=page]"
    )
    assert active.get_text(strip=True) == "Rapports"
    assert menu(login_agent(Client(), spf_agent))["Rapports"] == "/rapports/"
    pharmacy = Client()
    pharmacy.force_login(user_a)
    assert "Rapports" not in menu(pharmacy)
    assert "Rapports" not in menu(Client())


def test_an_xlsx_too_large_for_a_web_request_sends_the_agent_to_the_csv(client_idf, seed, settings):
    settings.REPORTS_XLSX_MAX_ROWS = 5
    params = _sessions(seed)
    response = client_idf.get(reverse("reports:lines_download", args=["xlsx"]), params)
    assert response.status_code == 302 and response["Location"].startswith(reverse("reports:index") + "?")
    page = client_idf.get(response["Location"]).content.decode()
    assert "plus de 5 lignes" in page and "en CSV" in page
    assert not AuditEvent.objects.filter(action="report.exported").exists()
    assert client_idf.get(reverse("reports:lines_download", args=["csv"]), params).status_code == 200
    # The report itself has fewer rows than the limit: its XLSX is served.
    settings.REPORTS_XLSX_MAX_ROWS = 20
    assert client_idf.get(reverse("reports:report_download", args=["xlsx"]), params).status_code == 200
