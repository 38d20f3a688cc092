"""The e-mail code login of an officine: open only while SpF has switched "PSC indisponible"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from bs4 import BeautifulSoup
from django.core import mail
from django.utils import timezone

from tests import factories
from vaccine_orders.audit.actors import SESSION_ACTOR_LABEL_KEY
from vaccine_orders.audit.models import AuditEvent
from vaccine_orders.portal.models import ServiceSettings

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"\b([A-Z]{4}-[A-Z]{4})\b")


@pytest.fixture
def psc_down():
    switches = ServiceSettings.load()
    switches.psc_unavailable = True
    switches.save()
    return switches


@pytest.fixture
def officine():
    """A pharmacy account whose address was verified at its first PSC login."""
    pharmacy = factories.PharmacyFactory(email="officine@example.org")
    user = factories.PharmacyUserFactory(pharmacy=pharmacy)
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email="officine@example.org", verified=True, primary=True)
    return user


def _request_code(client, email):
    return client.post("/accounts/login/code/", {"email": email})


def _code_sent_to(email):
    messages = [m for m in mail.outbox if m.to == [email]]
    assert messages, f"no e-mail to {email}"
    return CODE_RE.search(messages[-1].body).group(1)


def test_the_fallback_is_closed_while_psc_works(client, officine):
    page = client.get("/accounts/login/code/")
    assert "n'est ouverte que lorsque Pro Santé Connect est indisponible" in page.content.decode()
    assert not BeautifulSoup(client.get("/accounts/login/").content, "html.parser").find(
        "a", href="/accounts/login/code/"
    )

    response = _request_code(client, "officine@example.org")

    assert response.status_code == 200
    assert not mail.outbox
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_the_login_page_offers_the_fallback_while_psc_is_down(client, psc_down):
    soup = BeautifulSoup(client.get("/accounts/login/").content, "html.parser")
    links = [a.get_text(strip=True) for a in soup.find_all("a", href="/accounts/login/code/")]
    assert "Recevoir un code de connexion par e-mail" in links
    assert "Pro Santé Connect est indisponible" in soup.get_text()
    assert soup.find(id="bandeau-psc")  # the banner of every page


def test_a_code_sent_to_the_verified_address_logs_the_officine_in(client, officine, psc_down):
    response = _request_code(client, "OFFICINE@example.org")
    assert response["Location"] == "/accounts/login/code/confirm/"
    message = mail.outbox[-1]
    assert message.to == ["officine@example.org"]
    assert message.subject == "[Commande de vaccins] Votre code de connexion"
    code = _code_sent_to("officine@example.org")

    before = client.session.session_key
    response = client.post("/accounts/login/code/confirm/", {"code": code})

    assert response.status_code == 302
    assert client.get("/").wsgi_request.user == officine
    assert client.session.session_key != before
    label = f"Connexion par code e-mail (officine {officine.pharmacy.finess}, officine@example.org)"
    assert client.session[SESSION_ACTOR_LABEL_KEY] == label
    assert AuditEvent.objects.get(action="accounts.login").actor_label == label


def test_three_wrong_codes_block_the_code(client, officine, psc_down):
    _request_code(client, "officine@example.org")
    code = _code_sent_to("officine@example.org")
    first = client.post("/accounts/login/code/confirm/", {"code": "BBBB-BBBB"})
    second = client.post("/accounts/login/code/confirm/", {"code": "CCCC-CCCC"})
    assert first.status_code == second.status_code == 200
    third = client.post("/accounts/login/code/confirm/", {"code": "DDDD-DDDD"})
    assert third.status_code == 302 and third["Location"] == "/accounts/login/code/"

    late = client.post("/accounts/login/code/confirm/", {"code": code})  # even the right code is dead now

    assert late.status_code == 302 and late["Location"] == "/accounts/login/code/"
    assert not client.get("/").wsgi_request.user.is_authenticated


@pytest.mark.parametrize("kind", ["unknown", "unverified_pharmacy", "agent"])
def test_an_address_without_an_officine_account_reveals_nothing(client, officine, psc_down, kind):
    email = "inconnu@example.org"
    if kind == "unverified_pharmacy":
        other = factories.PharmacyUserFactory(pharmacy=factories.PharmacyFactory(email="", email_verified_at=None))
        EmailAddress.objects.create(user=other, email=email, verified=False, primary=True)
    elif kind == "agent":
        agent = factories.StaffUserFactory(email=email)
        EmailAddress.objects.create(user=agent, email=email, verified=True, primary=True)
    known = _request_code(type(client)(), "officine@example.org")
    mail.outbox.clear()

    response = _request_code(client, email)

    assert response.status_code == known.status_code == 302
    assert response["Location"] == known["Location"]
    confirm = client.get(response["Location"])
    assert confirm.status_code == 200 and email in confirm.content.decode()
    assert [m.to for m in mail.outbox] == [[email]]
    assert not CODE_RE.search(mail.outbox[0].body)  # the "no account" notice carries no code
    assert not client.post("/accounts/login/code/confirm/", {"code": "BBBB-BBBB"}).wsgi_request.user.is_authenticated


def test_code_requests_are_rate_limited_per_address(client, officine, psc_down):
    for _ in range(3):
        assert _request_code(type(client)(), "officine@example.org").status_code == 302
    response = _request_code(client, "officine@example.org")
    assert response.status_code == 200
    assert "Trop de tentatives" in response.content.decode() or "trop" in response.content.decode().lower()
    assert len(mail.outbox) == 3


def test_the_code_expires_after_five_minutes(client, officine, psc_down):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _request_code(client, "officine@example.org")
        code = _code_sent_to("officine@example.org")
        traveller.shift(timedelta(minutes=5, seconds=5))
        response = client.post("/accounts/login/code/confirm/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_closing_the_fallback_stops_a_login_under_way(client, officine, psc_down):
    _request_code(client, "officine@example.org")
    code = _code_sent_to("officine@example.org")
    psc_down.psc_unavailable = False
    psc_down.save()

    response = client.post("/accounts/login/code/confirm/", {"code": code}, follow=True)

    assert not response.wsgi_request.user.is_authenticated
    assert "la connexion par code e-mail est fermée" in response.content.decode()


def test_an_officine_never_logs_in_with_a_password(client, officine):
    officine.set_password("un-mot-de-passe-quelconque")  # however it got one
    officine.save()
    response = client.post(
        "/compte/connexion-agents/", {"login": "officine@example.org", "password": "un-mot-de-passe-quelconque"}
    )
    assert not client.get("/").wsgi_request.user.is_authenticated
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"


def test_an_officine_gets_no_password_reset_mail(client, officine):
    client.post("/accounts/password/reset/", {"email": "officine@example.org"})
    assert all("mot de passe" not in m.subject.lower() for m in mail.outbox)
