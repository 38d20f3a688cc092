"""Mes effecteurs through the browser's eyes: pages, buttons, named error states with their next step."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from effectors import services
from effectors.models import Attachment, TransferRequest
from tests import factories
from vaccine_orders.audit.actors import Actor

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def attach(pharmacy, entry):
    identifier = getattr(entry, "rpps", None) or entry.finess
    return services.attachment_attach(pharmacy=pharmacy, identifier=identifier, actor=SYSTEM)


@pytest.fixture
def doctor(db):
    return factories.ProfessionalFactory(last_name="DUPONT", first_name="Jean", email="")


@pytest.fixture
def lyon(db):
    return factories.PharmacyFactory(city="Lyon", name="Pharmacie des Terreaux")


def test_the_menu_offers_mes_effecteurs_to_an_officine(client_a):
    page = soup(client_a.get(reverse("effectors:list")))
    link = page.find("a", class_="fr-nav__link", string="Mes effecteurs")
    assert link is not None and link["href"] == reverse("effectors:list")
    assert link.get("aria-current") == "page"


def test_the_list_shows_own_lines_and_attached_effectors_with_type_date_and_actions(client_a, pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor)
    page = soup(client_a.get(reverse("effectors:list")))
    rows = page.select("#effecteurs tbody tr")
    texts = [" ".join(row.get_text(" ").split()) for row in rows]
    # Own lines first (created on the first visit), then the doctor.
    assert texts[0].startswith("Officine (pour elle-même) Pharmacien (officine)")
    assert texts[1].startswith("Infirmiers (IDE) (total)")
    assert "Un total unique pour tous les infirmiers" in texts[1]
    assert "Ligne de l'officine" in texts[0] and "Ligne de l'officine" in texts[1]
    assert "Jean DUPONT" in texts[2] and "Médecin" in texts[2] and "Non renseignée" in texts[2]
    assert rows[2].find("a", href=reverse("effectors:detach", args=[attachment.pk])) is not None
    assert rows[2].find("a", href=reverse("effectors:contact", args=[attachment.pk])) is not None
    assert not any("Retirer" in a.get_text() for a in rows[0].find_all("a"))
    assert "Retirer" in rows[2].find("a", href=reverse("effectors:detach", args=[attachment.pk])).get_text()


def test_the_list_costs_the_same_number_of_queries_for_3_or_30_effectors(
    client_a, pharmacy_a, django_assert_max_num_queries
):
    services.pharmacy_own_effectors_ensure(pharmacy=pharmacy_a)
    for _ in range(3):
        factories.attached_effector(pharmacy_a, "doctor")
    with django_assert_max_num_queries(12) as few:
        client_a.get(reverse("effectors:list"))
    for _ in range(27):
        factories.attached_effector(pharmacy_a, "ehpad")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client_a.get(reverse("effectors:list"))
    assert len(soup(response).select("#effecteurs tbody tr")) == 32


def test_a_flagged_attachment_tells_the_officine_why(client_a, pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor)
    Attachment.objects.filter(pk=attachment.pk).update(
        needs_review=True, review_reason="Absent de la dernière extraction"
    )
    page = soup(client_a.get(reverse("effectors:list")))
    assert "À vérifier" in page.select_one(f"#rattachement-{attachment.pk}").get_text()


# --- search ------------------------------------------------------------------------------------------


def search(client, **params):
    return client.get(reverse("effectors:search"), params)


def test_searching_by_rpps_offers_to_attach(client_a, doctor):
    page = soup(search(client_a, q=doctor.rpps))
    form = page.select_one("#resultats form")
    assert form["action"] == reverse("effectors:attach")
    assert form.find("input", attrs={"name": "identifiant"})["value"] == doctor.rpps


def test_searching_by_name_with_a_department(client_a):
    factories.ProfessionalFactory(last_name="LEFÈVRE", first_name="Hélène")
    factories.ProfessionalFactory(last_name="LEFEBVRE", first_name="Marc", department=factories.department("69"))
    factories.ProfessionalFactory(last_name="LEFÈVRE", first_name="Nurse", profession_code="60")
    names = [
        td.get_text(" ", strip=True) for td in soup(search(client_a, q="lefe")).select("#resultats td:first-child")
    ]
    assert len(names) == 2 and not any("Nurse" in n for n in names)
    department = factories.department("69")
    page = soup(search(client_a, q="lefe", departement=department.pk))
    assert [td.get_text(" ", strip=True).split(" RPPS")[0] for td in page.select("#resultats td:first-child")] == [
        "Marc LEFEBVRE"
    ]
    accents = soup(search(client_a, q="Lefèvre Hél"))
    assert "Hélène LEFÈVRE" in accents.select_one("#resultats").get_text()


def test_searching_an_establishment_by_finess_and_name(client_a):
    ehpad = factories.EstablishmentFactory(name="EHPAD Les Glycines")
    assert "EHPAD Les Glycines" in soup(search(client_a, q=ehpad.finess)).select_one("#resultats").get_text()
    assert "EHPAD Les Glycines" in soup(search(client_a, q="glycines")).select_one("#resultats").get_text()


def test_a_number_with_a_wrong_check_key_is_a_field_error(client_a, doctor):
    wrong = doctor.rpps[:10] + str((int(doctor.rpps[10]) + 1) % 10)
    page = soup(search(client_a, q=wrong))
    assert "clé de contrôle ne correspond pas" in page.select_one(".fr-error-text").get_text()


def test_a_number_not_in_the_referential_is_the_introuvable_state_with_the_support_link(client_a):
    unknown = factories.ProfessionalFactory.build().rpps
    page = soup(search(client_a, q=unknown))
    state = page.select_one("#etat-not_found")
    assert "Introuvable dans le référentiel" in state.get_text()
    link = page.select_one("#prochaine-etape a[href*='support']")
    query = parse_qs(urlparse(link["href"]).query)
    assert query["motif"] == ["effecteur_introuvable"]
    assert unknown in query["erreur"][0]


def test_search_results_say_what_can_be_done_with_each(client_a, pharmacy_a, lyon, doctor):
    attached_here = factories.ProfessionalFactory(last_name="ICI")
    elsewhere = factories.ProfessionalFactory(last_name="AILLEURS")
    retired = factories.ProfessionalFactory(last_name="PARTI", is_active=False)
    nurse = factories.ProfessionalFactory(last_name="SOIGNANTE", profession_code="60")
    attach(pharmacy_a, attached_here)
    attach(lyon, elsewhere)
    states = {}
    for professional in (attached_here, elsewhere, retired, nurse):
        states[professional.last_name] = soup(search(client_a, q=professional.rpps)).select_one(
            "#resultats tbody td:last-child"
        )
    assert "Déjà rattaché à votre officine" in states["ICI"].get_text()
    assert "Rattaché à une officine de Lyon" in states["AILLEURS"].get_text()
    assert "Demander le transfert" in states["AILLEURS"].find("button").get_text()
    assert "Inactif dans le référentiel" in states["PARTI"].get_text()
    assert "total unique" in states["SOIGNANTE"].get_text()
    assert "Terreaux" not in states["AILLEURS"].get_text()


# --- attach / detach -----------------------------------------------------------------------------------


def test_attaching_from_the_search_result(client_a, pharmacy_a, doctor):
    response = client_a.post(reverse("effectors:attach"), {"identifiant": doctor.rpps}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("effectors:list")
    assert "Jean DUPONT est rattaché(e) à votre officine." in response.content.decode()
    assert Attachment.objects.get(effector__professional=doctor).pharmacy == pharmacy_a


def test_attaching_an_effector_of_another_officine_is_the_named_state_with_transfer_and_support(client_a, lyon, doctor):
    attach(lyon, doctor)
    response = client_a.post(reverse("effectors:attach"), {"identifiant": doctor.rpps})
    assert response.status_code == 409
    page = soup(response)
    assert page.h1.get_text() == "Déjà rattaché à une autre officine"
    assert "à Lyon" in page.select_one("#etat-already_attached_elsewhere").get_text()
    transfer_form = page.select_one(f"#prochaine-etape form[action='{reverse('effectors:transfer_request')}']")
    assert transfer_form.find("input", attrs={"name": "identifiant"})["value"] == doctor.rpps
    support = page.select_one("#prochaine-etape a[href*='support']")
    assert parse_qs(urlparse(support["href"]).query)["motif"] == ["effecteur_autre_officine"]


def test_attaching_an_inactive_entry_is_the_named_state(client_a):
    retired = factories.ProfessionalFactory(is_active=False)
    response = client_a.post(reverse("effectors:attach"), {"identifiant": retired.rpps})
    assert response.status_code == 400
    assert soup(response).h1.get_text() == "Inactif dans le référentiel"


def test_attaching_an_unknown_number_is_not_found(client_a):
    response = client_a.post(reverse("effectors:attach"), {"identifiant": factories.ProfessionalFactory.build().rpps})
    assert response.status_code == 404
    assert soup(response).h1.get_text() == "Introuvable dans le référentiel"


def test_detaching_asks_for_confirmation_then_detaches(client_a, pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor)
    url = reverse("effectors:detach", args=[attachment.pk])
    confirm = soup(client_a.get(url))
    assert confirm.h1.get_text() == "Retirer Jean DUPONT de vos effecteurs ?"
    assert confirm.find("button", string="Confirmer le retrait")
    response = client_a.post(url, follow=True)
    assert "Jean DUPONT a été retiré(e) de vos effecteurs." in response.content.decode()
    attachment.refresh_from_db()
    assert attachment.detached_at is not None
    assert client_a.get(url).status_code == 404  # already closed


def test_an_own_line_has_no_detach_page(client_a, pharmacy_a):
    nurses = factories.own_effector(pharmacy_a, "nurse").attachments.get()
    response = client_a.get(reverse("effectors:detach", args=[nurses.pk]))
    assert response.status_code == 400
    assert "propre à votre officine" in response.content.decode()
    assert client_a.post(reverse("effectors:detach", args=[nurses.pk])).status_code == 400
    nurses.refresh_from_db()
    assert nurses.detached_at is None


# --- contact e-mail ------------------------------------------------------------------------------------


def test_the_contact_email_form_saves_a_valid_address_and_rejects_a_bad_one(client_a, pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor)
    url = reverse("effectors:contact", args=[attachment.pk])
    bad = soup(client_a.post(url, {"email": "dupont@"}))
    assert "Saisissez une adresse e-mail valide" in bad.select_one(".fr-error-text").get_text()
    response = client_a.post(url, {"email": "jean.dupont@exemple.fr"})
    assert response.status_code == 302
    doctor.refresh_from_db()
    assert doctor.email == "jean.dupont@exemple.fr"


def test_an_establishment_has_no_contact_email_page(client_a, pharmacy_a):
    attachment = attach(pharmacy_a, factories.EstablishmentFactory())
    assert client_a.get(reverse("effectors:contact", args=[attachment.pk])).status_code == 404


# --- transfers and history -----------------------------------------------------------------------------


def test_a_transfer_from_request_to_acceptance(client, user_a, user_b, pharmacy_a, pharmacy_b, doctor):
    attach(pharmacy_b, doctor)
    client.force_login(user_a)
    response = client.post(reverse("effectors:transfer_request"), {"identifiant": doctor.rpps}, follow=True)
    assert "Elle a 7 jours pour l'accepter ou la refuser" in soup(response).get_text()
    assert "Jean DUPONT" in soup(response).select_one("#transferts-envoyes").get_text()

    client.force_login(user_b)
    received = soup(client.get(reverse("effectors:list"))).select_one("#transferts-recus")
    assert "Jean DUPONT" in received.get_text() and "une officine de Paris" in received.get_text()
    transfer = TransferRequest.objects.get()
    response = client.post(reverse("effectors:transfer_accept", args=[transfer.pk]), follow=True)
    assert "Transfert accepté" in response.content.decode()
    assert Attachment.objects.get(detached_at__isnull=True, effector__professional=doctor).pharmacy == pharmacy_a


def test_refusing_and_cancelling_a_transfer(client, user_a, user_b, pharmacy_a, pharmacy_b, doctor):
    attach(pharmacy_b, doctor)
    transfer = services.transfer_request_create(pharmacy=pharmacy_a, identifier=doctor.rpps, actor=SYSTEM)
    client.force_login(user_b)
    client.post(reverse("effectors:transfer_refuse", args=[transfer.pk]))
    transfer.refresh_from_db()
    assert transfer.status == "refused"
    again = services.transfer_request_create(pharmacy=pharmacy_a, identifier=doctor.rpps, actor=SYSTEM)
    client.force_login(user_a)
    client.post(reverse("effectors:transfer_cancel", args=[again.pk]))
    again.refresh_from_db()
    assert again.status == "cancelled"


def test_the_history_lists_attachments_detachments_and_referential_changes(client_a, pharmacy_a, doctor):
    attachment = attach(pharmacy_a, doctor)
    services.attachment_detach(pharmacy=pharmacy_a, attachment=attachment, actor=SYSTEM)
    rows = soup(client_a.get(reverse("effectors:history"))).select("#historique tbody tr")
    events = [row.find_all("td")[1].get_text() for row in rows]
    assert events[:2] == ["Retrait", "Rattachement"]
    assert "DUPONT" in rows[1].get_text()
