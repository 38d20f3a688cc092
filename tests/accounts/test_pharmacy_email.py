"""The officine's e-mail address: asked at the first login, changed by "Visualiser compte" → "Modifier" →
"Enregistrer", each time proved with a code; the previous address is told."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from bs4 import BeautifulSoup
from django.core import mail

from tests import factories
from tests.psc import titulaire_claims
from vaccine_orders.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"\b([A-Z]{4}-[A-Z]{4})\b")


def _last_code(to: str) -> str:
    message = [m for m in mail.outbox if m.to == [to]][-1]
    return CODE_RE.search(message.body).group(1)


@pytest.fixture
def new_pharmacy():
    return factories.PharmacyFactory(email="", email_verified_at=None, name="Pharmacie de la Gare")


def test_the_first_login_dialog_verifies_the_address_with_a_code(client, psc, new_pharmacy):
    authority = factories.AuthorityFactory(pharmacy=new_pharmacy)
    response = psc.login(client, titulaire_claims(rpps=authority.rpps, finess=new_pharmacy.finess), follow=True)
    soup = BeautifulSoup(response.content, "html.parser")
    assert soup.h1.get_text(strip=True) == "Adresse e-mail de votre officine"
    assert soup.find(attrs={"role": "dialog"})
    assert not soup.find(id="bandeau-adresse-officine")  # not on the dialog itself

    response = client.post("/compte/adresse-email/", {"email": "Contact@Pharmacie-Gare.fr", "next": "/"})

    assert response["Location"] == "/compte/adresse-email/verification/?next=%2F"
    message = mail.outbox[-1]
    assert message.to == ["contact@pharmacie-gare.fr"]
    assert message.subject == "[Commande de vaccins] Code de vérification de l'adresse e-mail de votre officine"
    assert "Pharmacie de la Gare" in message.body
    new_pharmacy.refresh_from_db()
    assert not new_pharmacy.email  # nothing written before the code comes back

    wrong = client.post("/compte/adresse-email/verification/?next=%2F", {"code": "BBBB-BBBB"})
    assert wrong.status_code == 200 and "Code incorrect" in wrong.content.decode()
    response = client.post(
        "/compte/adresse-email/verification/?next=%2F", {"code": _last_code("contact@pharmacie-gare.fr").lower()}
    )

    assert response["Location"] == "/"
    new_pharmacy.refresh_from_db()
    assert new_pharmacy.email == "contact@pharmacie-gare.fr" and new_pharmacy.email_verified_at
    user = new_pharmacy.account
    assert user.email == "contact@pharmacie-gare.fr"
    address = EmailAddress.objects.get(user=user)
    assert address.email == "contact@pharmacie-gare.fr" and address.verified and address.primary
    event = AuditEvent.objects.get(action="accounts.pharmacy_email_changed")
    assert event.after == {"email": "contact@pharmacie-gare.fr"} and "RPPS" in event.actor_label
    assert len(mail.outbox) == 1  # no "changed" notice: there was no previous address


def test_the_banner_reminds_an_officine_without_an_address(client, psc, new_pharmacy):
    authority = factories.AuthorityFactory(pharmacy=new_pharmacy)
    psc.login(client, titulaire_claims(rpps=authority.rpps, finess=new_pharmacy.finess))
    banner = BeautifulSoup(client.get("/").content, "html.parser").find(id="bandeau-adresse-officine")
    assert banner and banner.find("a")["href"] == "/compte/adresse-email/"


def test_visualiser_compte_modifier_enregistrer_changes_the_address_and_tells_the_old_one(
    client_a, user_a, django_capture_on_commit_callbacks
):
    pharmacy = user_a.pharmacy
    old = pharmacy.email
    EmailAddress.objects.create(user=user_a, email=old, verified=True, primary=True)
    factories.AuthorityFactory(pharmacy=pharmacy, first_name="Claire", last_name="MARTIN")

    page = BeautifulSoup(client_a.get("/compte/").content, "html.parser")
    assert page.h1.get_text(strip=True) == "Mon compte"
    assert old in page.find(id="adresse-officine").get_text()
    assert "Claire MARTIN" in page.get_text()
    assert page.find("a", string="Modifier")["href"] == "/compte/adresse-email/modifier/"
    form = BeautifulSoup(client_a.get("/compte/adresse-email/modifier/").content, "html.parser")
    assert form.find("button", string="Enregistrer")
    assert client_a.post("/compte/adresse-email/modifier/", {"email": old}).status_code == 200  # same address

    client_a.post("/compte/adresse-email/modifier/", {"email": "nouvelle@example.org"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post("/compte/adresse-email/verification/", {"code": _last_code("nouvelle@example.org")})

    assert response["Location"] == "/compte/"
    pharmacy.refresh_from_db()
    assert pharmacy.email == "nouvelle@example.org"
    assert list(EmailAddress.objects.filter(user=user_a).values_list("email", flat=True)) == ["nouvelle@example.org"]
    notice = mail.outbox[-1]
    assert notice.to == [old]
    assert notice.subject == "[Commande de vaccins] L'adresse e-mail de votre officine a été modifiée"
    assert old in notice.body and "nouvelle@example.org" in notice.body
    assert AuditEvent.objects.get(action="accounts.pharmacy_email_changed").before == {"email": old}


def test_three_wrong_codes_end_the_change_and_write_nothing(client_a, user_a):
    client_a.post("/compte/adresse-email/modifier/", {"email": "nouvelle@example.org"})
    code = _last_code("nouvelle@example.org")
    for _ in range(2):
        assert client_a.post("/compte/adresse-email/verification/", {"code": "BBBB-BBBB"}).status_code == 200
    third = client_a.post("/compte/adresse-email/verification/", {"code": "CCCC-CCCC"})
    assert third["Location"] == "/compte/adresse-email/modifier/"
    late = client_a.post("/compte/adresse-email/verification/", {"code": code})
    assert late["Location"] == "/compte/adresse-email/modifier/"
    user_a.pharmacy.refresh_from_db()
    assert user_a.pharmacy.email != "nouvelle@example.org"


def test_an_address_verified_by_another_account_is_refused(client_a, user_a, user_b):
    EmailAddress.objects.create(user=user_b, email=user_b.email, verified=True, primary=True)
    client_a.post("/compte/adresse-email/modifier/", {"email": user_b.email})
    response = client_a.post("/compte/adresse-email/verification/", {"code": _last_code(user_b.email)}, follow=True)
    assert "déjà celle d'un autre compte" in BeautifulSoup(response.content, "html.parser").get_text()
    user_a.pharmacy.refresh_from_db()
    assert user_a.pharmacy.email != user_b.email


def test_the_new_address_then_opens_the_fallback(client_a, user_a):
    from vaccine_orders.portal.models import ServiceSettings

    client_a.post("/compte/adresse-email/modifier/", {"email": "nouvelle@example.org"})
    client_a.post("/compte/adresse-email/verification/", {"code": _last_code("nouvelle@example.org")})
    ServiceSettings.objects.filter(pk=ServiceSettings.load().pk).update(psc_unavailable=True)
    fresh = type(client_a)()
    fresh.post("/accounts/login/code/", {"email": "nouvelle@example.org"})
    fresh.post("/accounts/login/code/confirm/", {"code": _last_code("nouvelle@example.org")})
    assert fresh.get("/").wsgi_request.user == user_a


@pytest.mark.parametrize(
    "url",
    ["/compte/", "/compte/adresse-email/", "/compte/adresse-email/modifier/", "/compte/adresse-email/verification/"],
)
def test_account_pages_are_for_officine_accounts_only(client, url):
    assert client.get(url)["Location"].startswith("/accounts/login/")
    client.force_login(factories.StaffUserFactory())
    assert client.get(url).status_code == 403


def test_a_pending_code_belongs_to_the_officine_that_asked(client_a, user_a, user_b):
    client_a.post("/compte/adresse-email/modifier/", {"email": "nouvelle@example.org"})
    other = type(client_a)()
    other.force_login(user_b)
    # Another officine's session has nothing pending: it cannot confirm A's change.
    response = other.post("/compte/adresse-email/verification/", {"code": _last_code("nouvelle@example.org")})
    assert response.status_code == 302
    user_a.pharmacy.refresh_from_db()
    assert user_a.pharmacy.email != "nouvelle@example.org"


def test_visualiser_compte_query_count_does_not_grow(client_a, user_a, django_assert_max_num_queries):
    from allauth.socialaccount.models import SocialAccount

    from accounts.psc.identities import pharmacist_activity, psc_userinfo

    for index in range(6):
        authority = factories.AuthorityFactory(pharmacy=user_a.pharmacy)
        claims = psc_userinfo(
            rpps=authority.rpps,
            first_name=f"Personne{index}",
            last_name="Test",
            activities=[pharmacist_activity(finess=user_a.pharmacy.finess)],
        )
        SocialAccount.objects.create(
            user=user_a, provider="prosanteconnect", uid=f"8{authority.rpps}", extra_data={"userinfo": claims}
        )
    with django_assert_max_num_queries(12):
        response = client_a.get("/compte/")
    assert response.status_code == 200
    rows = BeautifulSoup(response.content, "html.parser").select("table tbody tr")
    assert len(rows) == 6 and all(row.find_all("td")[3].get_text(strip=True) for row in rows)
