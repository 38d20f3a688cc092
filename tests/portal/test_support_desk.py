"""The support desk in the admin: queue, assignment, the two-hour clock, replies by e-mail, internal notes."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.core import mail
from django.urls import reverse

from tests import factories
from tests.portal.conftest import login_agent
from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.portal import services
from vaccine_orders.portal.models import SupportMessage, SupportRequest

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
CHANGELIST = reverse("admin:portal_supportrequest_changelist")


def change_url(support_request) -> str:
    return reverse("admin:portal_supportrequest_change", args=[support_request.pk])


def soup(response):
    return BeautifulSoup(response.content, "html.parser")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def form_data(support_request, **overrides):
    data = {
        "status": support_request.status,
        "assigned_to": support_request.assigned_to_id or "",
        "reply": "",
        "internal_note": "",
    }
    data.update(overrides)
    return data


def test_both_anonymous_and_logged_in_requests_reach_the_queue_with_their_context(
    client, anonymous_data, token, pharmacy_a, user_a, support_agent
):
    session = factories.OrderSessionFactory()
    order = factories.OrderFactory(pharmacy=pharmacy_a, session=session)
    client.post("/support/", anonymous_data(message="Je n'arrive pas à me connecter."))
    client.force_login(user_a)
    client.post(
        "/support/?motif=question_commande",
        {
            "reason": "question_commande",
            "message": "Où en est ma commande ?",
            "email": pharmacy_a.email,
            "error": "Erreur 500 sur le récapitulatif",
            "jeton": token(),
        },
    )
    login_agent(client, support_agent)
    page = soup(client.get(CHANGELIST + "?file=a_traiter"))
    rows = page.select("#result_list tbody tr")
    assert len(rows) == 2
    text = page.select_one("#result_list").get_text(" ", strip=True)
    assert "Claire Martin" in text
    assert pharmacy_a.name in text

    logged_in = SupportRequest.objects.get(pharmacy=pharmacy_a)
    detail = client.get(change_url(logged_in)).content.decode()
    assert pharmacy_a.finess in detail
    assert order.reference in detail
    assert "Erreur 500 sur le récapitulatif" in detail
    assert reverse("support_pharmacy_file", args=[pharmacy_a.pk]) in detail


def test_overdue_requests_are_highlighted_in_the_queue(client, support_agent):
    saturday_evening = paris(2026, 11, 21, 19, 30)
    late = factories.SupportRequestFactory(created_at=saturday_evening)
    on_time = factories.SupportRequestFactory(created_at=paris(2026, 11, 23, 10, 0))
    answered = factories.SupportRequestFactory(
        created_at=saturday_evening,
        status=SupportRequest.Status.ANSWERED,
        first_answered_at=paris(2026, 11, 21, 19, 45),
    )
    with time_machine.travel(paris(2026, 11, 23, 11, 0), tick=False):
        login_agent(client, support_agent)  # sessions last 30 minutes: log in at the travelled time
        page = soup(client.get(CHANGELIST))
        overdue_only = soup(client.get(CHANGELIST + "?file=en_retard"))
    rows = {row.select_one("th a").get_text(strip=True): row for row in page.select("#result_list tbody tr")}
    assert rows[late.reference].select_one(".cv-support-overdue").get_text(strip=True).startswith("En retard")
    assert rows[on_time.reference].select_one(".cv-support-overdue") is None
    assert rows[answered.reference].select_one(".cv-support-overdue") is None
    # The most urgent open request comes first; answered ones after the open ones.
    assert list(rows) == [late.reference, on_time.reference, answered.reference]
    assert [a.get_text(strip=True) for a in overdue_only.select("#result_list tbody th a")] == [late.reference]
    assert page.find("script", src=lambda src: src and src.endswith("portal/admin_support.js"))


def test_the_queue_loads_with_a_bounded_number_of_queries(client, support_agent, django_assert_max_num_queries):
    for _ in range(3):
        factories.SupportRequestFactory(pharmacy=factories.PharmacyFactory(), assigned_to=support_agent)
    login_agent(client, support_agent)
    client.get(CHANGELIST)
    for _ in range(20):
        factories.SupportRequestFactory(pharmacy=factories.PharmacyFactory(), assigned_to=support_agent)
    with django_assert_max_num_queries(12):
        assert client.get(CHANGELIST).status_code == 200


def test_a_reply_is_emailed_once_stops_the_clock_and_shows_under_mes_demandes(
    client, pharmacy_a, user_a, support_agent, run_tasks, django_capture_on_commit_callbacks
):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a, finess=pharmacy_a.finess, email="o@x.org")
    login_agent(client, support_agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            change_url(support_request),
            form_data(support_request, reply="Votre commande est bien enregistrée.", internal_note="Vérifié en base."),
        )
    assert response.status_code == 302
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.ANSWERED
    assert support_request.first_answered_at is not None
    reply = SupportMessage.objects.get(kind=SupportMessage.Kind.REPLY)
    assert reply.author == support_agent
    assert reply.emailed_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["o@x.org"]
    assert support_request.reference in message.subject
    assert "Votre commande est bien enregistrée." in message.body
    assert "Vérifié en base." not in message.body
    assert "Votre commande est bien enregistrée." in message.alternatives[0][0]
    assert reverse("support_my_request_detail", args=[support_request.reference]) in message.body

    # Sending the same reply again (a task redelivered) sends nothing.
    assert services.support_reply_send(message_id=reply.pk) is False
    assert len(mail.outbox) == 1

    client.force_login(user_a)
    page = client.get(reverse("support_my_request_detail", args=[support_request.reference])).content.decode()
    assert "Votre commande est bien enregistrée." in page
    assert "Vérifié en base." not in page


def test_an_internal_note_is_neither_emailed_nor_shown_to_the_pharmacy(
    client, pharmacy_a, user_a, support_agent, run_tasks, django_capture_on_commit_callbacks
):
    support_request = factories.SupportRequestFactory(pharmacy=pharmacy_a)
    login_agent(client, support_agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            change_url(support_request), form_data(support_request, internal_note="Officine déjà appelée hier.")
        )
    assert mail.outbox == []
    note = SupportMessage.objects.get()
    assert note.kind == SupportMessage.Kind.NOTE
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.NEW  # a note is not an answer
    assert "Officine déjà appelée hier." in client.get(change_url(support_request)).content.decode()

    client.force_login(user_a)
    page = client.get(reverse("support_my_request_detail", args=[support_request.reference])).content.decode()
    assert "Officine déjà appelée hier." not in page


def test_assignment_takes_the_request_and_is_journaled(client, support_agent, support_agent_2):
    support_request = factories.SupportRequestFactory()
    login_agent(client, support_agent)
    client.post(change_url(support_request), form_data(support_request, assigned_to=support_agent_2.pk))
    support_request.refresh_from_db()
    assert support_request.assigned_to == support_agent_2
    assert support_request.status == SupportRequest.Status.IN_PROGRESS
    event = AuditEvent.objects.get(action="support.assigned")
    assert event.actor == support_agent


def test_the_assign_to_me_action(client, support_agent):
    first, second = factories.SupportRequestFactory(), factories.SupportRequestFactory()
    login_agent(client, support_agent)
    client.post(CHANGELIST, {"action": "take", "_selected_action": [first.pk, second.pk]})
    assert set(SupportRequest.objects.values_list("assigned_to", flat=True)) == {support_agent.pk}


def test_escalating_to_level_2_then_closing(client, support_agent, support_agent_2):
    support_request = factories.SupportRequestFactory()
    login_agent(client, support_agent)
    client.post(CHANGELIST, {"action": "escalate", "_selected_action": [support_request.pk]})
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.ESCALATED
    login_agent(client, support_agent_2)
    level_2 = soup(client.get(CHANGELIST + "?file=niveau_2"))
    assert [a.get_text(strip=True) for a in level_2.select("#result_list tbody th a")] == [support_request.reference]
    client.post(CHANGELIST, {"action": "close", "_selected_action": [support_request.pk]})
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.CLOSED
    assert support_request.closed_at is not None
    actions = list(AuditEvent.objects.filter(action="support.status_changed").values_list("after", flat=True))
    assert actions == [{"status": "closed"}, {"status": "escalated"}]


def test_a_forbidden_transition_gets_a_french_message_on_the_field(client, support_agent):
    support_request = factories.SupportRequestFactory()
    login_agent(client, support_agent)
    response = client.post(change_url(support_request), form_data(support_request, status="answered"))
    assert response.status_code == 200
    assert "ne peut pas passer à « Répondue »" in response.content.decode()
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.NEW


def test_a_closed_request_takes_no_reply_until_reopened():
    support_request = factories.SupportRequestFactory(status=SupportRequest.Status.CLOSED, closed_at=None)
    actor = Actor.system("Agent")
    with pytest.raises(services.SupportError, match="close"):
        services.support_reply_add(support_request=support_request, actor=actor, body="Bonjour")
    services.support_request_set_status(
        support_request=support_request, actor=actor, status=SupportRequest.Status.IN_PROGRESS
    )
    services.support_reply_add(support_request=support_request, actor=actor, body="Bonjour")
    assert support_request.status == SupportRequest.Status.ANSWERED


def test_closing_with_a_reply_in_the_same_save(client, support_agent, run_tasks, django_capture_on_commit_callbacks):
    support_request = factories.SupportRequestFactory()
    login_agent(client, support_agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(change_url(support_request), form_data(support_request, status="closed", reply="C'est réglé."))
    support_request.refresh_from_db()
    assert support_request.status == SupportRequest.Status.CLOSED
    assert support_request.first_answered_at is not None
    assert len(mail.outbox) == 1


def test_the_support_desk_cannot_add_or_delete_requests(client, support_agent):
    support_request = factories.SupportRequestFactory()
    login_agent(client, support_agent)
    assert client.get(reverse("admin:portal_supportrequest_add")).status_code == 403
    assert client.get(reverse("admin:portal_supportrequest_delete", args=[support_request.pk])).status_code == 403


def test_staff_without_the_support_groups_cannot_open_the_queue(client):
    login_agent(client, factories.StaffUserFactory())
    assert client.get(CHANGELIST).status_code == 403


def test_a_pharmacy_account_cannot_open_the_admin(client_a):
    response = client_a.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_acknowledgement_claim_is_released_when_sending_fails(settings):
    support_request = factories.SupportRequestFactory()
    settings.EMAIL_BACKEND = "tests.portal.test_support_desk.FailingBackend"
    with pytest.raises(OSError, match="relay down"):
        services.support_acknowledgement_send(support_request_id=support_request.pk)
    support_request.refresh_from_db()
    assert support_request.acknowledged_at is None  # Celery retries, and the retry will send it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.support_acknowledgement_send(support_request_id=support_request.pk) is True
    assert services.support_acknowledgement_send(support_request_id=support_request.pk) is False
    assert len(mail.outbox) == 1


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("relay down")


def test_due_time_tells_the_requester_when_to_expect_an_answer(run_tasks, django_capture_on_commit_callbacks):
    with time_machine.travel(paris(2026, 11, 21, 19, 30), tick=False), django_capture_on_commit_callbacks(execute=True):
        services.support_request_create(
            actor=Actor.system("Anonyme"),
            data=services.SupportRequestInput(reason="autre", message="Bonjour", email="a@example.org"),
        )
    assert "lundi 23 novembre à 10h30" in mail.outbox[0].body


def test_reopening_after_an_answer_restarts_nothing_but_keeps_the_first_answer_time():
    support_request = factories.SupportRequestFactory()
    actor = Actor.system("Agent")
    services.support_reply_add(support_request=support_request, actor=actor, body="Réponse")
    first = support_request.first_answered_at
    services.support_request_set_status(
        support_request=support_request, actor=actor, status=SupportRequest.Status.IN_PROGRESS
    )
    services.support_reply_add(support_request=support_request, actor=actor, body="Complément")
    support_request.refresh_from_db()
    assert support_request.first_answered_at == first
    assert not support_request.is_overdue(at=first + timedelta(days=3))
