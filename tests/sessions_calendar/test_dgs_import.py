"""Importing a session's rules from a CSV shaped like the DGS-Urgent tables: dry run first, malformed files
refused with a French message and nothing written."""

from __future__ import annotations

import base64
import re

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from effectors.models import EffectorType
from sessions_calendar.errors import SessionError
from sessions_calendar.models import CapRule, ProductOffer
from sessions_calendar.rules import Cell, ProductRules
from sessions_calendar.services import dgs_import_apply, dgs_import_preview, parse_table, session_rules_save
from sessions_calendar.services.dgs_import import parse_cell
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.orders.models import Product

from .helpers import make_session, open_session_now
from .test_rules import SEED_003_RULES, stored_rules

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("Test")

# Seed 003 (DGS-Urgent 2021_60) as one table: effector types in rows, products in columns.
SEED_003_CSV = """Effecteurs;AstraZeneca 1ère injection;AstraZeneca 2nde injection;Janssen;Moderna
Médecins;Jusqu'à 5 flacons par médecin;Jusqu'à 5 flacons par médecin;10 flacons maximum par professionnel de santé;
Pharmaciens;Jusqu'à 5 flacons par officine;Jusqu'à 5 flacons par officine;10 flacons maximum par professionnel de santé;
Infirmiers;Jusqu'à 10 flacon par IDE;Non ouvert à la commande;10 flacons maximum par professionnel de santé;
Sages-femmes;Jusqu'à 10 flacon par sage-femme;Non ouvert à la commande;10 flacons maximum par professionnel de santé;
Médecins du travail;;;;Une boîte de 10 flacons par médecin du travail
Stock national;;;;600
"""

# Seed 002 (DGS-Urgent 2022_36): rows grouping several types, long cells.
SEED_002_CSV = """Effecteurs,Nombre de flacons Moderna,Nombre de flacons Pfizer-BioNTech - Forme Adulte,Nombre de flacons Pfizer-BioNTech - Forme pédiatrique
Médecins,"Nombre de flacons de vaccins non limité pour ces types d'effecteurs, tout en veillant bien à ne pas constituer de stocks non utilisés.",Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité
Pharmaciens,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité
"Infirmiers, sages-femmes",Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité
Chirurgiens-dentistes,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Non ouvert à la commande
"MSP,  CDS, LBM",Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Non ouvert à la commande
"FAM, MAS, EHPAD, USLD et résidences autonomie",Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Non ouvert à la commande
SST,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Non ouvert à la commande
SSU,Nombre de flacons de vaccins non limité,Nombre de flacons de vaccins non limité,Non ouvert à la commande
PMI,Non ouvert à la commande,Non ouvert à la commande,Nombre de flacons de vaccins non limité
"""  # noqa: E501 - the table as the note prints it


def parse(text: str, encoding: str = "utf-8"):
    return parse_table(
        text.encode(encoding), products=list(Product.objects.all()), types=list(EffectorType.objects.all())
    )


def as_rows(rules, catalogue, types) -> set[tuple]:
    codes = {p.pk: code for code, p in catalogue.items()}
    type_codes = {t.pk: code for code, t in types.items()}
    return {
        (codes[pid], type_codes[tid], rank, cell.mode, cell.limit)
        for pid, entry in rules.items()
        for (tid, rank), cell in entry.cells.items()
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Non ouvert à la commande", (Cell("closed"), None)),
        ("Nombre de flacons non limité", (Cell("unlimited"), None)),
        ("Jusqu'à 5 flacons par médecin", (Cell("per_effector", 5), None)),
        ("Jusqu’à 5 flacons par officine", (Cell("per_pharmacy", 5), None)),
        ("Jusqu'à 10 flacon par IDE", (Cell("per_effector", 10), None)),
        ("10 flacons maximum par professionnel de santé", (Cell("per_effector", 10), None)),
        ("Une boîte de 10 flacons par médecin du travail", (Cell("per_effector", 10), 10)),
        ("2 boîtes de 10 flacons par officine", (Cell("per_pharmacy", 20), 10)),
        ("12", (Cell("per_effector", 12), None)),
        ("", (None, None)),
    ],
)
def test_cells_in_the_words_of_the_dgs_urgent_notes(text, expected):
    assert parse_cell(text) == expected


@pytest.mark.parametrize("text", ["Beaucoup", "Jusqu'à 0 flacon par médecin", "Selon stock"])
def test_unreadable_cells_are_refused(text):
    with pytest.raises(ValueError, match=re.escape(text)):
        parse_cell(text)


def test_the_seed_003_table_gives_the_seed_003_rules(catalogue, types):
    parsed = parse(SEED_003_CSV)
    assert as_rows(parsed.rules, catalogue, types) == SEED_003_RULES
    moderna = parsed.rules[catalogue["moderna"].pk]
    assert (moderna.national_stock, moderna.box_size) == (600, 10)


def test_the_seed_002_table_with_grouped_rows_and_a_cp1252_file(catalogue, types):
    parsed = parse(SEED_002_CSV, encoding="cp1252")
    rows = as_rows(parsed.rules, catalogue, types)
    assert ("moderna", "midwife", 0, "unlimited", None) in rows  # "Infirmiers, sages-femmes"
    assert ("moderna", "residence_autonomie", 0, "unlimited", None) in rows
    assert ("pfizer-pediatrique", "pmi", 0, "unlimited", None) in rows
    assert ("pfizer-pediatrique", "ehpad", 0, "closed", None) in rows
    assert ("moderna", "pmi", 0, "closed", None) in rows
    establishment_codes = {
        "msp",
        "cds",
        "lbm",
        "fam",
        "mas",
        "ehpad",
        "usld",
        "residence_autonomie",
        "sst",
        "ssu",
        "pmi",
    }
    professionals = {"doctor", "pharmacist", "nurse", "midwife", "dental_surgeon"}
    assert {code for (p, code, *_) in rows if p == "moderna"} == establishment_codes | professionals
    assert len(rows) == 3 * 16


def test_a_second_header_row_may_carry_the_injection_ranks(catalogue, types):
    parsed = parse(
        "Effecteurs;AstraZeneca;;Janssen\n"
        ";1ère injection;2nde injection;\n"
        "Médecins;Jusqu'à 5 flacons par médecin;Jusqu'à 5 flacons par médecin;Non limité\n"
    )
    assert as_rows(parsed.rules, catalogue, types) == {
        ("astrazeneca", "doctor", 1, "per_effector", 5),
        ("astrazeneca", "doctor", 2, "per_effector", 5),
        ("janssen", "doctor", 0, "unlimited", None),
    }


def test_a_column_with_no_open_cell_leaves_the_product_closed(catalogue, types):
    parsed = parse("Effecteurs;Janssen;Novavax\nMédecins;Non limité;Non ouvert à la commande\n")
    assert parsed.rules[catalogue["novavax"].pk] == ProductRules()
    assert parsed.notes == ["Novavax : aucune cellule ouverte, le produit ne sera pas ouvert à la commande."]


@pytest.mark.parametrize(
    ("text", "messages"),
    [
        (
            "Effecteurs;Spoutnik V\nMédecins;Non limité\n",
            ["colonne 2 (« Spoutnik V ») : produit inconnu au catalogue."],
        ),
        (
            "Effecteurs;Janssen\nVétérinaires;Non limité\n",
            ["Ligne 2 : type d'effecteur inconnu dans « Vétérinaires »."],
        ),
        (
            "Effecteurs;Janssen\nMédecins;Beaucoup\n",
            ["Ligne 2 (Médecins), Janssen : cellule non reconnue « Beaucoup »."],
        ),
        (
            "Effecteurs;AstraZeneca\nMédecins;Non limité\n",
            ["AstraZeneca se commande par rang d'injection ; indiquez « 1ère injection » ou « 2nde injection »."],
        ),
        (
            "Effecteurs;Janssen\nMédecins;Non limité\nmédecin;Non limité\n",
            ["Ligne 3 : Médecins apparaît déjà ligne 2."],
        ),
        ("Effecteurs;Janssen;Janssen\nMédecins;Non limité;Non limité\n", ["Janssen a déjà une colonne (colonne 2)."]),
        ("Effecteurs;Janssen\nMédecins;Non limité;Non limité\n", ["des cellules dépassent la dernière colonne"]),
        (
            "Effecteurs;Moderna\nMédecins;Non limité\nStock national;beaucoup\n",
            ["« beaucoup » n'est pas un nombre entier positif."],
        ),
        ("Effecteurs,Janssen\n", ["Le tableau est vide"]),
        ("une seule colonne\nMédecins\n", ["Le fichier n'a qu'une colonne"]),
    ],
)
def test_malformed_tables_are_refused_with_every_problem_in_french(catalogue, types, text, messages):
    with pytest.raises(SessionError) as error:
        parse(text)
    reported = " ".join([error.value.message, *error.value.errors])
    for message in messages:
        assert message in reported


def test_a_refused_file_writes_nothing_and_the_rules_stay(catalogue, types):
    session = open_session_now()
    session_rules_save(
        session=session,
        rules={catalogue["janssen"].pk: ProductRules(True, None, None, {(types["doctor"].pk, 0): Cell("unlimited")})},
        actor=ACTOR,
    )
    before = stored_rules(session)
    with pytest.raises(SessionError):
        dgs_import_preview(session=session, content=b"Effecteurs;Janssen\nMedecins;Beaucoup\n")
    with pytest.raises(SessionError):
        dgs_import_apply(
            session=session, content=b"Effecteurs;Janssen\nMedecins;Beaucoup\n", fingerprint="x", actor=ACTOR
        )
    assert stored_rules(session) == before


def test_a_table_that_contradicts_the_rules_is_refused_at_preview(catalogue, types):
    session = open_session_now()
    text = "Effecteurs;Moderna\nMédecins du travail;Jusqu'à 5 flacons par médecin\nBoîtes de;10\n"
    with pytest.raises(SessionError) as error:
        dgs_import_preview(session=session, content=text.encode())
    assert "le plafond (5) n'est pas un nombre entier de boîtes de 10" in " ".join(error.value.errors)


def test_the_preview_lists_changes_and_keeps_products_absent_from_the_table(catalogue, types):
    session = open_session_now()
    novavax = catalogue["novavax"]
    session_rules_save(
        session=session,
        rules={novavax.pk: ProductRules(True, None, None, {(types["doctor"].pk, 0): Cell("unlimited")})},
        actor=ACTOR,
    )
    preview = dgs_import_preview(session=session, content=SEED_003_CSV.encode())
    texts = [(c.product, c.text) for c in preview.changes]
    assert ("Moderna", "stock national : aucun → 600") in texts
    assert ("AstraZeneca", "Médecin (1re injection) : pas de règle → Jusqu'à 5 unités par effecteur") in texts
    assert not any(product == "Novavax" for product, _ in texts)
    assert ProductOffer.objects.filter(session=session).count() == 1  # a dry run
    closing = dgs_import_preview(session=session, content=SEED_003_CSV.encode(), close_missing=True)
    assert ("Novavax", "n'est plus ouvert à la commande") in [(c.product, c.text) for c in closing.changes]


def test_the_admin_import_previews_then_applies(admin_client, catalogue, types):
    session = open_session_now()
    url = reverse("admin:sessions_calendar_ordersession_dgs", args=[session.pk])
    assert admin_client.get(url).status_code == 200
    upload = SimpleUploadedFile("dgs-2021-60.csv", SEED_003_CSV.encode("utf-8-sig"), content_type="text/csv")
    preview = admin_client.post(url, {"upload": upload, "action": "preview"})
    assert preview.status_code == 200
    soup = BeautifulSoup(preview.content, "html.parser")
    assert "Moderna : stock national : aucun → 600" in soup.select_one(".sc-changes").get_text(" ", strip=True)
    assert not CapRule.objects.filter(offer__session=session).exists()

    hidden = {i["name"]: i.get("value", "") for i in soup.select("#content-main form input[type=hidden]")}
    assert base64.b64decode(hidden["content"]) == SEED_003_CSV.encode("utf-8-sig")
    applied = admin_client.post(url, {**hidden, "action": "apply"})
    assert applied.status_code == 302
    assert stored_rules(session) == SEED_003_RULES
    assert AuditEvent.objects.get(action="session.rules_update").summary.startswith(
        "Règles modifiées (import d'un tableau DGS)"
    )


def test_a_confirmation_after_the_rules_changed_is_refused(admin_client, catalogue, types):
    session = open_session_now()
    url = reverse("admin:sessions_calendar_ordersession_dgs", args=[session.pk])
    upload = SimpleUploadedFile("dgs.csv", SEED_003_CSV.encode(), content_type="text/csv")
    soup = BeautifulSoup(admin_client.post(url, {"upload": upload, "action": "preview"}).content, "html.parser")
    hidden = {i["name"]: i.get("value", "") for i in soup.select("#content-main form input[type=hidden]")}
    session_rules_save(  # a colleague saves the rules page meanwhile
        session=session,
        rules={catalogue["novavax"].pk: ProductRules(True, None, None, {(types["doctor"].pk, 0): Cell("unlimited")})},
        actor=ACTOR,
    )
    response = admin_client.post(url, {**hidden, "action": "apply"})
    assert response.status_code == 400
    assert "modifiées depuis l'aperçu" in BeautifulSoup(response.content, "html.parser").get_text()
    assert stored_rules(session) == {("novavax", "doctor", 0, "unlimited", None)}


def test_the_admin_import_of_a_malformed_file_shows_the_problems(admin_client, catalogue):
    session = open_session_now()
    url = reverse("admin:sessions_calendar_ordersession_dgs", args=[session.pk])
    upload = SimpleUploadedFile("dgs.csv", b"Effecteurs;Spoutnik\nMedecins;Beaucoup\n", content_type="text/csv")
    response = admin_client.post(url, {"upload": upload, "action": "preview"})
    assert response.status_code == 400
    text = BeautifulSoup(response.content, "html.parser").select_one("#erreurs").get_text(" ", strip=True)
    assert text.startswith("Le fichier n'a pas été importé : rien n'a été modifié.")
    assert "produit inconnu au catalogue" in text
    assert not ProductOffer.objects.filter(session=session).exists()


def test_importing_into_a_closed_session_is_refused(catalogue):
    from datetime import date

    session = make_session(date(2023, 7, 17))
    with pytest.raises(SessionError, match="est close depuis"):
        dgs_import_preview(session=session, content=SEED_003_CSV.encode())
