"""'Contacter le support': reachable logged in or not, the reasons of seed 000, the context attached."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tests import factories
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.identifiers import make_finess
from vaccine_orders.portal.models import SupportRequest
from vaccine_orders.portal.support import SupportReason, support_url

pytestmark = pytest.mark.django_db

URL = "/support/"
GOOD_FINESS = make_finess("75000001")
BAD_KEY_FINESS = GOOD_FINESS[:-1] + str((int(GOOD_FINESS[-1]) + 1) % 10)


def soup(response):
    return BeautifulSoup(response.content, "html.parser")


def test_the_form_is_public_and_offers_exactly_the_reasons_of_seed_000(client):
    response = client.get(URL)
    assert response.status_code == 200
    options = soup(response).select("select[name=reason] option")
    assert [(o["value"], o.get_text(strip=True)) for o in options[1:]] == [
        (value, label) for value, label in SupportReason.choices
    ]
    assert options[0]["value"] == ""
    labels = [o.get_text(strip=True) for o in options]
    assert "J'ai un message d'erreur lié à ma connexion : « Problème technique SSO d'authentification »" in labels
    assert "J'ai un message d'erreur lié à ma connexion : « Problème de référentiel »" in labels
    assert "Autre motif" in labels
    assert len(SupportReason.choices) == 11


def test_the_support_url_contract_still_resolves():
    assert support_url() == reverse("support_request") == URL


def test_an_anonymous_request_reaches_the_queue_with_its_requester(client, anonymous_data):
    finess = make_finess("75000001")
    response = client.post(
        URL,
        anonymous_data(
            finess=f"{finess[:2]} {finess[2:5]} {finess[5:]}", callback_requested="on", phone="01 23 45 67 89"
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("support_request_sent")
    support_request = SupportRequest.objects.get()
    assert support_request.status == SupportRequest.Status.NEW
    assert support_request.reason == SupportReason.CONNEXION_PSC
    assert (support_request.name, support_request.email) == ("Claire Martin", "claire.martin@example.org")
    assert support_request.finess == finess
    assert support_request.pharmacy is None
    assert support_request.user is None
    assert support_request.session is None
    assert support_request.order is None
    assert support_request.callback_requested
    assert support_request.phone == "0123456789"
    assert support_request.reference.startswith("SUP-")
    assert len(support_request.reference) == 12
    event = AuditEvent.objects.get(action="support.request_created")
    assert event.actor_label == "Anonyme"

    page = client.get(response["Location"])
    assert support_request.reference in page.content.decode()


def test_a_logged_in_pharmacy_gets_its_finess_session_and_order_attached(client_a, user_a, pharmacy_a, token):
    session = factories.OrderSessionFactory()
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    factories.OrderFactory(session=session)  # another officine's order in the same session
    form_page = client_a.get(URL)
    text = soup(form_page).select_one("#contexte-joint").get_text(" ", strip=True)
    assert pharmacy_a.finess in text
    assert order.reference in text
    # The officine is known: no FINESS to type, the e-mail is the officine's.
    assert soup(form_page).select_one("input[name=finess]") is None
    assert soup(form_page).select_one("input[name=email]")["value"] == pharmacy_a.email

    data = {
        "reason": "question_commande",
        "message": "Je ne retrouve pas ma ligne Moderna.",
        "email": pharmacy_a.email,
        "finess": "999999999",  # ignored: the officine comes from the account
        "jeton": token(),
    }
    response = client_a.post(URL, data)
    assert response.status_code == 302
    support_request = SupportRequest.objects.get()
    assert support_request.pharmacy == pharmacy_a
    assert support_request.user == user_a
    assert support_request.finess == pharmacy_a.finess
    assert support_request.session == session
    assert support_request.order == order


def test_a_logged_in_pharmacy_without_order_in_the_session_still_gets_the_session(client_a, pharmacy_a, token):
    session = factories.OrderSessionFactory()
    client_a.post(
        URL, {"reason": "delais", "message": "Quand serai-je livré ?", "email": pharmacy_a.email, "jeton": token()}
    )
    support_request = SupportRequest.objects.get()
    assert support_request.session == session
    assert support_request.order is None


def test_between_sessions_no_session_is_attached(client_a, pharmacy_a, token):
    start = timezone.now() + timedelta(days=3)
    factories.OrderSessionFactory(opens_at=start, closes_at=start + timedelta(hours=39))
    client_a.post(URL, {"reason": "autre", "message": "Bonjour", "email": pharmacy_a.email, "jeton": token()})
    support_request = SupportRequest.objects.get()
    assert support_request.session is None
    assert support_request.order is None


def test_coming_from_an_error_page_preselects_the_reason_and_attaches_the_error(client, anonymous_data):
    error = "Problème de référentiel : RPPS 10000000018 sans officine"
    response = client.get(support_url(SupportReason.REFERENTIEL, error=error))
    page = soup(response)
    assert page.select_one("select[name=reason] option[selected]")["value"] == "referentiel"
    assert page.select_one("input[name=error]")["value"] == error
    assert error in page.select_one("#contexte-joint").get_text()

    response = client.post(URL, anonymous_data(reason="referentiel", error=error))
    assert response.status_code == 302
    assert SupportRequest.objects.get().error_message == error


def test_an_unknown_reason_in_the_link_is_ignored(client):
    page = soup(client.get(URL + "?motif=n-importe-quoi"))
    assert page.select_one("select[name=reason] option[selected]")["value"] == ""


def test_a_staff_or_ars_account_is_treated_as_a_person_not_an_officine(client, anonymous_data):
    agent = factories.StaffUserFactory(first_name="Paul", last_name="Agent")
    client.force_login(agent)
    assert soup(client.get(URL)).select_one("input[name=email]")["value"] == agent.email
    client.post(URL, anonymous_data())
    support_request = SupportRequest.objects.get()
    assert support_request.user == agent
    assert support_request.pharmacy is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"reason": ""}, "reason", "Choisissez le motif de votre demande."),
        ({"reason": "inconnu"}, "reason", "Motif inconnu."),
        ({"message": ""}, "message", "Écrivez votre message."),
        ({"name": ""}, "name", "Indiquez vos nom et prénom."),
        ({"email": ""}, "email", "Indiquez l'adresse e-mail à laquelle vous répondre."),
        ({"email": "pas-une-adresse"}, "email", "Saisissez une adresse e-mail valide"),
        ({"finess": "123"}, "finess", "doit comporter 9 caractères"),
        ({"finess": BAD_KEY_FINESS}, "finess", "clé de contrôle"),
        ({"callback_requested": "on", "phone": ""}, "phone", "Indiquez le numéro de téléphone auquel vous rappeler."),
        ({"callback_requested": "on", "phone": "12"}, "phone", "Saisissez un numéro de téléphone valide"),
    ],
)
def test_bad_input_gets_a_french_message_on_its_field_and_nothing_is_saved(
    client, anonymous_data, overrides, field, message
):
    response = client.post(URL, anonymous_data(**overrides))
    assert response.status_code == 400
    group = soup(response).select_one(f"[name={field}]").find_parent(class_="fr-input-group") or soup(
        response
    ).select_one(f"[name={field}]").find_parent("div")
    assert message in group.get_text()
    assert not SupportRequest.objects.exists()
    assert mail.outbox == []


def test_the_phone_is_optional_without_a_call_back(client, anonymous_data):
    assert client.post(URL, anonymous_data(phone="")).status_code == 302
    assert SupportRequest.objects.get().callback_requested is False


def test_the_acknowledgement_is_sent_once_with_the_ticket_reference(
    client, anonymous_data, run_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, anonymous_data())
    support_request = SupportRequest.objects.get()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["claire.martin@example.org"]
    assert support_request.reference in message.subject
    assert support_request.reference in message.body
    assert "deux heures" in message.body
    html = message.alternatives[0][0]
    assert support_request.reference in html
    assert support_request.acknowledged_at is not None

    # The task delivered again (a worker lost, a retry): still one e-mail.
    from vaccine_orders.portal.tasks import support_send_acknowledgement_task

    support_send_acknowledgement_task.delay(support_request.pk)
    support_send_acknowledgement_task.delay(support_request.pk)
    assert len(mail.outbox) == 1
