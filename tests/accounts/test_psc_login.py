"""End to end: the authorization code flow against a real OpenID Connect provider on loopback (tests/psc.py),
with PSC-shaped claims. Every refusal ends on its French page and creates no account."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from bs4 import BeautifulSoup

from accounts.models import User
from accounts.psc.identities import pharmacist_activity, psc_userinfo
from tests import factories
from tests.psc import (
    CLIENT_ID,
    resign_id_token_with_foreign_key,
    titulaire_claims,
    userinfo_as_jwt,
    with_query,
)
from vaccine_orders.audit.actors import SESSION_ACTOR_LABEL_KEY
from vaccine_orders.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def pharmacy():
    return factories.PharmacyFactory(name="Pharmacie du Marché")


@pytest.fixture
def titulaire(pharmacy):
    return factories.AuthorityFactory(pharmacy=pharmacy, first_name="Claire", last_name="MARTIN")


def _text(response) -> str:
    return BeautifulSoup(response.content, "html.parser").get_text(" ", strip=True)


def _title(response) -> str:
    return BeautifulSoup(response.content, "html.parser").h1.get_text(strip=True)


def _assert_nothing_created():
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


# --- the happy paths ------------------------------------------------------------------------------


def test_the_authorization_request_is_the_psc_one(client, psc, titulaire):
    url = psc.start(client)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == psc.url  # the endpoint read from the wallet discovery document
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"openid", "scope_all"}
    assert query["acr_values"] == "eidas1"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["nonce"]) == 32 and query["state"]
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "http://testserver/accounts/psc/login/callback/"


def test_a_titulaire_logs_in_and_lands_on_the_pharmacy_home(client, psc, pharmacy, titulaire):
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get()
    assert user.pharmacy == pharmacy
    account = SocialAccount.objects.get()
    assert account.user == user and account.provider == "prosanteconnect" and account.uid == f"8{titulaire.rpps}"
    assert client.session[SESSION_ACTOR_LABEL_KEY] == f"Claire MARTIN – RPPS {titulaire.rpps} (Pro Santé Connect)"
    home = client.get("/")
    assert home.wsgi_request.user == user
    login = AuditEvent.objects.get(action="accounts.login")
    assert login.actor == user and login.pharmacy == pharmacy and "Claire MARTIN" in login.actor_label


def test_a_co_titulaire_lands_on_the_same_account(client, psc, pharmacy, titulaire, django_user_model):
    cotitulaire = factories.AuthorityFactory(pharmacy=pharmacy, first_name="Julien", last_name="BERNARD")
    psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    second = type(client)()
    response = psc.login(
        second,
        titulaire_claims(rpps=cotitulaire.rpps, finess=pharmacy.finess, first_name="Julien", last_name="Bernard"),
    )

    assert response.status_code == 302
    user = django_user_model.objects.get()
    assert second.get("/").wsgi_request.user == user
    assert sorted(SocialAccount.objects.filter(user=user).values_list("uid", flat=True)) == sorted(
        [f"8{titulaire.rpps}", f"8{cotitulaire.rpps}"]
    )
    assert "Julien BERNARD" in second.session[SESSION_ACTOR_LABEL_KEY]
    assert AuditEvent.objects.filter(action="accounts.psc_identity_linked").count() == 2


def test_the_gerant_of_a_mutualist_pharmacy_logs_in(client, psc, pharmacy):
    gerant = factories.AuthorityFactory(
        pharmacy=pharmacy, role=factories.PharmacistAuthority.Role.GERANT_MINIERE_MUTUALISTE
    )
    claims = psc_userinfo(
        rpps=gerant.rpps,
        first_name="Marc",
        last_name="Petit",
        activities=[pharmacist_activity(finess=pharmacy.finess, role="FON-23", section="D", sector="SA39")],
    )
    assert psc.login(client, claims).status_code == 302
    assert User.objects.get().pharmacy == pharmacy


# --- refused profiles: the right French page, no account --------------------------------------------


@pytest.mark.parametrize(
    ("case", "title"),
    [
        ("adjoint", "Votre profil ne permet pas de commander"),
        ("remplacant", "Votre profil ne permet pas de commander"),
        ("doctor", "Votre profil ne permet pas de commander"),
        ("unknown_finess", "Problème de référentiel"),
        ("no_authority", "Problème de référentiel"),
        ("inactive_authority", "Problème de référentiel"),
        ("pharmacy_left_the_referential", "Problème de référentiel"),
    ],
)
def test_a_profile_that_may_not_order_is_refused(client, psc, pharmacy, case, title):
    rpps = factories.AuthorityFactory.build().rpps
    finess = pharmacy.finess
    activity = pharmacist_activity(finess=finess)
    profession = "21"
    if case == "adjoint":
        factories.AuthorityFactory(pharmacy=pharmacy, rpps=rpps)  # even with a (wrong) row in the table
        activity = pharmacist_activity(finess=finess, role="FON-05", section="D")
    elif case == "remplacant":
        activity = pharmacist_activity(finess=finess, role="FON-04", section="D")
    elif case == "doctor":
        profession = "10"
        activity = {"codeSecteurDactivite": "SA07", "codeRole": "", "numeroFinessSite": ""}
    elif case == "unknown_finess":
        factories.AuthorityFactory(pharmacy=pharmacy, rpps=rpps)
        activity = pharmacist_activity(finess=factories.PharmacyFactory.build().finess)
    elif case == "inactive_authority":
        factories.AuthorityFactory(pharmacy=pharmacy, rpps=rpps, is_active=False)
    elif case == "pharmacy_left_the_referential":
        factories.AuthorityFactory(pharmacy=pharmacy, rpps=rpps)
        pharmacy.is_active = False
        pharmacy.save()
    claims = psc_userinfo(
        rpps=rpps, first_name="Paul", last_name="Durand", profession=profession, activities=[activity]
    )

    response = psc.login(client, claims)

    assert response.status_code == 403
    assert _title(response) == title
    assert "Contacter le support" in _text(response)
    _assert_nothing_created()
    assert not client.get("/").wsgi_request.user.is_authenticated
    refusal = AuditEvent.objects.get(action="accounts.login_refused")
    assert refusal.after["rpps"] == rpps


def test_the_support_link_of_a_referential_problem_carries_the_reason(client, psc, pharmacy):
    rpps = factories.AuthorityFactory.build().rpps
    response = psc.login(client, titulaire_claims(rpps=rpps, finess=pharmacy.finess))
    link = BeautifulSoup(response.content, "html.parser").find("a", string="Contacter le support")["href"]
    query = parse_qs(urlsplit(link).query)
    assert query["motif"] == ["referentiel"]
    assert rpps in query["erreur"][0]


# --- a tampered or replayed answer: "Problème technique SSO d'authentification" ----------------------


@pytest.mark.parametrize("acr", [None, "eidas0", "eidas2"])
def test_a_missing_or_wrong_acr_is_refused(client, psc, pharmacy, titulaire, acr):
    claims = titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess)
    claims.pop("acr")
    if acr:
        claims["acr"] = acr
    response = psc.login(client, claims)
    assert response.status_code == 401
    assert _title(response) == "Problème technique SSO d'authentification"
    _assert_nothing_created()
    assert "niveau d'authentification" in AuditEvent.objects.get(action="accounts.login_refused").summary


def test_a_wrong_nonce_is_refused(client, psc, pharmacy, titulaire):
    sub = psc.register(titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    forged = with_query(psc.start(client), nonce="0" * 32)  # an ID token minted for another request
    response = client.get(psc.authorize(forged, sub))
    assert response.status_code == 401
    assert _title(response) == "Problème technique SSO d'authentification"
    _assert_nothing_created()


def test_a_replayed_state_is_refused(client, psc, pharmacy, titulaire):
    sub = psc.register(titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    callback = psc.authorize(psc.start(client), sub)
    attacker = type(client)()
    replayed = attacker.get(callback)  # a state this browser never received
    assert replayed.status_code == 401
    assert _title(replayed) == "Problème technique SSO d'authentification"
    _assert_nothing_created()
    assert client.get(callback).status_code == 302  # the genuine browser still gets in, once
    again = client.get(callback)  # the state is single-use
    assert again.status_code == 401
    assert User.objects.count() == 1 and SocialAccount.objects.count() == 1


def test_an_id_token_signed_with_another_key_is_refused(client, psc, pharmacy, titulaire):
    psc.on("/oauth2/token", resign_id_token_with_foreign_key)
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 401
    assert _title(response) == "Problème technique SSO d'authentification"
    _assert_nothing_created()
    assert "jeton d'identité refusé" in AuditEvent.objects.get(action="accounts.login_refused").summary


def _resign_id_token_hs256(secret: str):
    """Token hook: the ID token signed with HMAC (as PSC may do for a client), with `secret`."""
    import json

    import jwt

    def hook(response):
        body = response.get_json()
        claims = jwt.decode(body["id_token"], options={"verify_signature": False})
        body["id_token"] = jwt.encode(claims, secret, algorithm="HS256")
        response.set_data(json.dumps(body))
        return response

    return hook


def test_an_id_token_signed_with_the_client_secret_is_accepted(client, psc, pharmacy, titulaire):
    from tests.psc import CLIENT_SECRET

    psc.on("/oauth2/token", _resign_id_token_hs256(CLIENT_SECRET))
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 302
    assert User.objects.get().pharmacy == pharmacy


def test_an_id_token_signed_with_another_secret_is_refused(client, psc, pharmacy, titulaire):
    psc.on("/oauth2/token", _resign_id_token_hs256("un-autre-secret-que-celui-du-client-0123456789"))
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 401
    _assert_nothing_created()


def test_an_unsigned_id_token_is_refused(client, psc, pharmacy, titulaire):
    import json

    import jwt

    def unsigned(response):
        body = response.get_json()
        claims = jwt.decode(body["id_token"], options={"verify_signature": False})
        body["id_token"] = jwt.encode(claims, None, algorithm="none")
        response.set_data(json.dumps(body))
        return response

    psc.on("/oauth2/token", unsigned)
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 401
    _assert_nothing_created()


def test_a_cancel_at_psc_returns_to_the_login_page(client, psc, pharmacy):
    import requests

    answer = requests.post(psc.start(client), data={"action": "deny"}, allow_redirects=False, timeout=5)
    response = client.get(answer.headers["Location"], follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Connexion Pro Santé Connect annulée." in _text(response)
    _assert_nothing_created()


# --- userinfo as a signed JWT -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "HS256"])
def test_a_signed_userinfo_is_accepted(client, psc, pharmacy, titulaire, alg):
    psc.on("/userinfo", userinfo_as_jwt(psc, alg=alg))
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 302
    assert User.objects.get().pharmacy == pharmacy
    assert SocialAccount.objects.get().extra_data["userinfo"]["aud"] == CLIENT_ID


@pytest.mark.parametrize("alg", ["RS256", "HS256"])
def test_a_tampered_signed_userinfo_is_refused(client, psc, pharmacy, titulaire, alg):
    psc.on("/userinfo", userinfo_as_jwt(psc, alg=alg, tamper=True))
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    assert response.status_code == 401
    assert _title(response) == "Problème technique SSO d'authentification"
    _assert_nothing_created()


# --- re-checked at every login ----------------------------------------------------------------------


def test_a_titulaire_removed_from_the_table_loses_access_at_the_next_login(client, psc, pharmacy, titulaire):
    claims = titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess)
    assert psc.login(client, claims).status_code == 302
    client.post("/accounts/logout/")
    titulaire.is_active = False  # sold the officine: SpF's table says so before PSC does
    titulaire.save()

    response = psc.login(client, claims)

    assert response.status_code == 403 and _title(response) == "Problème de référentiel"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_titulaire_whose_activity_ended_loses_access_at_the_next_login(client, psc, pharmacy, titulaire):
    assert psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess)).status_code == 302
    client.post("/accounts/logout/")
    claims = psc_userinfo(rpps=titulaire.rpps, first_name="Claire", last_name="Martin", activities=[])
    response = psc.login(client, claims)
    assert response.status_code == 403 and _title(response) == "Votre profil ne permet pas de commander"


def test_a_pharmacist_who_moved_gets_the_new_officine_account(client, psc, pharmacy, titulaire):
    claims = titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess)
    psc.login(client, claims)
    client.post("/accounts/logout/")
    new_pharmacy = factories.PharmacyFactory()
    titulaire.is_active = False
    titulaire.save()
    factories.AuthorityFactory(pharmacy=new_pharmacy, rpps=titulaire.rpps)

    psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=new_pharmacy.finess))

    assert client.get("/").wsgi_request.user.pharmacy == new_pharmacy
    assert SocialAccount.objects.get().user.pharmacy == new_pharmacy


def test_a_person_of_several_officines_chooses_one(client, psc, pharmacy, titulaire):
    other = factories.PharmacyFactory(name="Pharmacie de la Gare")
    factories.AuthorityFactory(pharmacy=other, rpps=titulaire.rpps)
    claims = psc_userinfo(
        rpps=titulaire.rpps,
        first_name="Claire",
        last_name="Martin",
        activities=[pharmacist_activity(finess=pharmacy.finess), pharmacist_activity(finess=other.finess)],
    )
    response = psc.login(client, claims)
    assert response["Location"] == "/compte/connexion/officine/"
    _assert_nothing_created()
    page = client.get("/compte/connexion/officine/")
    assert "Pharmacie de la Gare" in _text(page) and "Pharmacie du Marché" in _text(page)
    assert client.post("/compte/connexion/officine/", {"finess": "000000000"}).status_code == 200  # not offered

    response = client.post("/compte/connexion/officine/", {"finess": other.finess})

    assert response.status_code == 302
    assert client.get("/").wsgi_request.user.pharmacy == other
    assert client.get("/compte/connexion/officine/")["Location"] == "/accounts/login/"  # used once


# --- sessions, first login, logout ------------------------------------------------------------------


def test_the_session_key_changes_at_login(client, psc, pharmacy, titulaire):
    sub = psc.register(titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    callback = psc.authorize(psc.start(client), sub)
    before = client.session.session_key
    assert before  # the login state lives in the session before the login
    client.get(callback)
    after = client.session.session_key
    assert after and after != before
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=before).exists()


def test_the_first_login_asks_for_the_pharmacy_email(client, psc):
    pharmacy = factories.PharmacyFactory(email="", email_verified_at=None)
    authority = factories.AuthorityFactory(pharmacy=pharmacy)
    response = psc.login(client, titulaire_claims(rpps=authority.rpps, finess=pharmacy.finess))
    assert response["Location"] == "/compte/adresse-email/?next=%2F"


def test_next_is_kept_through_the_psc_login(client, psc, pharmacy, titulaire):
    response = psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess), next_url="/compte/")
    assert response["Location"] == "/compte/"


def test_logout_also_ends_the_psc_session(client, psc, pharmacy, titulaire):
    import requests

    psc.login(client, titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess))
    raw_id_token = client.session["psc_id_token"]

    response = client.post("/accounts/logout/")

    assert not client.get("/").wsgi_request.user.is_authenticated
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{psc.url}/oauth2/end_session"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["id_token_hint"] == raw_id_token
    assert query["post_logout_redirect_uri"] == "http://testserver/compte/deconnexion/"
    assert query["client_id"] == CLIENT_ID
    # PSC ends its session and sends the browser back to our page.
    confirm = requests.post(
        f"{psc.url}/oauth2/end_session/confirm",
        data={"redirect_uri": query["post_logout_redirect_uri"]},
        allow_redirects=False,
        timeout=5,
    )
    back = client.get(confirm.headers["Location"])
    assert back.status_code == 200 and _title(back) == "Vous êtes déconnecté"


def test_the_discovery_document_is_fetched_once(client, psc, pharmacy, titulaire):
    seen = []
    psc.on("/.well-known/openid-configuration", lambda response: seen.append(1) or response)
    claims = titulaire_claims(rpps=titulaire.rpps, finess=pharmacy.finess)
    psc.login(client, claims)
    client.post("/accounts/logout/")
    psc.login(client, claims)
    assert len(seen) == 1


# --- the button ---------------------------------------------------------------------------------------


def test_the_login_page_offers_psc_as_a_post_form(client):
    soup = BeautifulSoup(client.get("/accounts/login/").content, "html.parser")
    form = soup.find("button", id="bouton-psc").find_parent("form")
    assert form["method"] == "post" and form["action"] == "/accounts/psc/login/"
    assert form.find("input", {"name": "csrfmiddlewaretoken"})


def test_a_get_on_the_psc_login_url_does_not_leave_for_psc(client, psc):
    response = client.get("/accounts/psc/login/")
    assert response.status_code == 200


def test_the_query_string_cannot_change_scope_or_acr(client, psc):
    response = client.post("/accounts/psc/login/?scope=email&auth_params=acr_values%3Deidas0")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["acr_values"] == ["eidas1"]
    assert set(query["scope"][0].split()) == {"openid", "scope_all"}


def test_psc_unreachable_gets_a_clear_page(client, psc, settings):
    from tests.psc import psc_provider_settings

    settings.SOCIALACCOUNT_PROVIDERS = psc_provider_settings("http://localhost:9")  # nothing listens there
    response = client.post("/accounts/psc/login/")
    assert response.status_code == 503
    assert _title(response) == "Pro Santé Connect ne répond pas"


def test_the_login_button_is_rate_limited(client, psc, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    statuses = [client.post("/accounts/psc/login/").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
