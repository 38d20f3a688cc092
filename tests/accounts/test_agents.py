"""SpF and ARS agents: e-mail + password + TOTP on their own page; ARS and staff pages (the admin included)
need a session that passed the second factor; no sign-up for anyone."""

from __future__ import annotations

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import ROLE_ARS, ROLE_LOGISTICS, ROLE_SUPPORT_1
from tests import factories
from tests.psc import login_agent
from vaccine_orders.audit.actors import SESSION_ACTOR_LABEL_KEY

pytestmark = pytest.mark.django_db

PASSWORD = "un-mot-de-passe-solide-2026"


def _agent(*, role: str = ROLE_LOGISTICS, region_code: str | None = None, totp_secret: str | None = None):
    user = factories.StaffUserFactory(
        first_name="Agnès",
        last_name="Leroy",
        is_staff=region_code is None,
        region=factories.region(region_code) if region_code else None,
    )
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=role))
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if totp_secret:
        TOTP.activate(user, totp_secret)
    return user


def _current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _password_step(client, user, next_url: str | None = None):
    url = reverse("staff_login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"login": user.email, "password": PASSWORD})


# --- the agents' login ------------------------------------------------------------------------------


def test_an_agent_logs_in_with_password_then_totp(client):
    secret = generate_totp_secret()
    agent = _agent(totp_secret=secret)

    response = _password_step(client, agent)

    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert not client.get("/").wsgi_request.user.is_authenticated
    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated

    response = client.post("/accounts/2fa/authenticate/", {"code": _current_code(secret)})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.session[SESSION_ACTOR_LABEL_KEY] == "Agnès Leroy (agent Santé publique France)"


@pytest.mark.django_db(
    transaction=True, serialized_rollback=True
)  # allauth announces the new authenticator after commit
def test_a_new_agent_enrols_totp_before_reaching_any_agent_page(client):
    agent = _agent()

    response = _password_step(client, agent)

    assert response["Location"] == "/accounts/2fa/totp/activate/"
    via_admin_login = client.get("/admin/")["Location"]
    assert client.get(via_admin_login)["Location"] == "/accounts/2fa/totp/activate/"
    client.get("/accounts/2fa/totp/activate/")
    secret = client.session["mfa.totp.secret"]
    response = client.post("/accounts/2fa/totp/activate/", {"code": _current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=agent, type=Authenticator.Type.TOTP).exists()
    # Typing a code of the new authenticator proved the second factor for this session.
    assert client.get("/admin/").status_code == 200


def test_an_ars_agent_lands_on_the_home_page_with_their_region(client):
    secret = generate_totp_secret()
    agent = _agent(role=ROLE_ARS, region_code="11", totp_secret=secret)
    _password_step(client, agent)
    response = client.post("/accounts/2fa/authenticate/", {"code": _current_code(secret)})
    assert response["Location"] == "/"
    assert client.session[SESSION_ACTOR_LABEL_KEY] == "Agnès Leroy (agent ARS Île-de-France)"


def test_wrong_passwords_are_rate_limited_per_address(client):
    agent = _agent(totp_secret=generate_totp_secret())
    for _ in range(5):
        response = client.post(reverse("staff_login"), {"login": agent.email, "password": "faux"})
        assert response.status_code == 200
    response = _password_step(client, agent)  # the right password, too late
    assert response.status_code == 200
    assert "trop" in response.content.decode().lower()


def test_the_admin_login_form_is_replaced_by_the_agents_page(client):
    response = client.get("/admin/login/?next=/admin/orders/order/")
    assert response.status_code == 302
    assert response["Location"] == "/compte/connexion-agents/?next=/admin/orders/order/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Connexion des agents" in page.content.decode()


def test_the_admin_needs_the_second_factor(client):
    agent = _agent(totp_secret=generate_totp_secret())
    client.force_login(agent)  # a password login that skipped the TOTP step
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"])["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fadmin%2F"
    login_agent(client, agent)
    assert client.get("/admin/").status_code == 200


# --- the access rules -------------------------------------------------------------------------------


@pytest.mark.urls("tests.accounts.urls_access")
class TestAccessRules:
    def test_anonymous_goes_to_the_agents_login(self, client):
        response = client.get("/test/ars/")
        assert response["Location"] == "/compte/connexion-agents/?next=/test/ars/"
        assert client.get("/test/spf/")["Location"] == "/compte/connexion-agents/?next=/test/spf/"

    def test_a_pharmacy_account_gets_403(self, client_a):
        assert client_a.get("/test/ars/").status_code == 403
        assert client_a.get("/test/spf/").status_code == 403

    def test_an_ars_agent_without_a_second_factor_cannot_reach_ars_pages(self, client):
        agent = _agent(role=ROLE_ARS, region_code="11")
        client.force_login(agent)
        response = client.get("/test/ars/")
        assert response.status_code == 302 and response["Location"] == "/accounts/2fa/totp/activate/"

    def test_an_ars_agent_whose_session_skipped_totp_must_type_a_code(self, client):
        agent = _agent(role=ROLE_ARS, region_code="11", totp_secret=generate_totp_secret())
        client.force_login(agent)
        response = client.get("/test/ars/")
        assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Ftest%2Fars%2F"

    def test_an_ars_agent_with_the_second_factor_sees_their_region(self, client):
        agent = _agent(role=ROLE_ARS, region_code="84")
        response = login_agent(client, agent).get("/test/ars/")
        assert response.status_code == 200 and response.content.decode() == "Rapport de la région 84"
        assert client.get("/test/spf/").status_code == 403  # not a staff page for them

    def test_staff_without_the_reporting_permission_cannot_reach_ars_pages(self, client):
        agent = _agent(role=ROLE_SUPPORT_1)
        agent.groups.clear()
        assert login_agent(client, agent).get("/test/ars/").status_code == 403

    def test_logistics_staff_reach_ars_and_staff_pages(self, client):
        login_agent(client, _agent(role=ROLE_LOGISTICS))
        assert client.get("/test/ars/").status_code == 200
        assert client.get("/test/spf/").status_code == 200

    def test_an_agent_gets_403_on_pharmacy_pages(self, client):
        login_agent(client, _agent(role=ROLE_ARS, region_code="11"))
        assert client.get("/test/officine/").status_code == 403


def _pages_with_rule(resolver, prefix=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _pages_with_rule(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            rule = getattr(pattern.callback, "access_rule", None)
            if rule in ("ars", "staff") and not pattern.pattern.regex.groups:
                yield rule, "/" + prefix + str(pattern.pattern)


@pytest.mark.urls("tests.accounts.urls_access")
def test_every_ars_and_staff_page_needs_the_second_factor(client):
    """Covers the ARS and staff pages that other parts of the service add, as soon as they exist."""
    pages = list(_pages_with_rule(get_resolver()))
    assert ("ars", "/test/ars/") in pages
    ars_agent = _agent(role=ROLE_ARS, region_code="11")
    staff = _agent(role=ROLE_LOGISTICS)
    staff.is_superuser = True
    staff.save()
    for rule, url in pages:
        client.force_login(ars_agent if rule == "ars" else staff)
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/accounts/2fa/totp/activate/", url


# --- no sign-up, no account management allauth would offer ------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/3rdparty/", "/accounts/3rdparty/signup/"])
def test_nobody_signs_up_or_links_accounts(client, url):
    assert client.get(url).status_code == 404
    assert client.post(url, {"email": "x@example.org", "password1": PASSWORD}).status_code == 404


@pytest.mark.parametrize("url", ["/accounts/email/", "/accounts/password/set/", "/accounts/2fa/"])
def test_an_officine_manages_its_account_only_in_visualiser_compte(client_a, url):
    response = client_a.get(url)
    assert response.status_code == 302 and response["Location"] == "/compte/"


# --- roles --------------------------------------------------------------------------------------------


def test_the_roles_exist_with_their_permissions():
    logistics = set(Group.objects.get(name=ROLE_LOGISTICS).permissions.values_list("codename", flat=True))
    assert {"change_product", "change_servicesettings", "change_pharmacistauthority", "add_caprule"} <= logistics
    support = set(Group.objects.get(name=ROLE_SUPPORT_1).permissions.values_list("codename", flat=True))
    assert "view_order" in support and "change_order" not in support and "change_supportrequest" in support
    ars = set(Group.objects.get(name=ROLE_ARS).permissions.values_list("codename", flat=True))
    assert ars == {
        "view_order",
        "view_orderline",
        "view_product",
        "view_pharmacy",
        "view_effector",
        "view_effectortype",
    }


def test_syncing_the_roles_restores_them_and_skips_models_that_do_not_exist_yet(monkeypatch):
    from accounts import roles

    group = Group.objects.get(name=ROLE_SUPPORT_1)
    group.permissions.clear()
    monkeypatch.setitem(roles.ROLES, ROLE_SUPPORT_1, [*roles.ROLES[ROLE_SUPPORT_1], "futureapp.view_futuremodel"])
    counts = roles.sync_roles()
    assert counts[ROLE_SUPPORT_1] == group.permissions.count() > 0
    assert roles.sync_roles() == counts  # idempotent


def test_spf_creates_an_ars_agent_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "Agent.ARS@ars.sante.fr",
            "first_name": "Léa",
            "last_name": "Roux",
            "role": ROLE_ARS,
            "region": factories.region("84").pk,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = factories.User.objects.get(email="agent.ars@ars.sante.fr")
    assert agent.region.code == "84" and not agent.is_staff and agent.username == agent.email
    assert list(agent.groups.values_list("name", flat=True)) == [ROLE_ARS]
    assert EmailAddress.objects.get(user=agent).verified is False  # proved at the first login


def test_an_ars_agent_needs_a_region_and_staff_none(admin_client):
    data = {"email": "x@example.org", "first_name": "A", "last_name": "B", "password1": PASSWORD, "password2": PASSWORD}
    response = admin_client.post(reverse("admin:accounts_user_add"), {**data, "role": ROLE_ARS})
    assert "Un agent ARS est rattaché à une région." in response.content.decode()
    response = admin_client.post(
        reverse("admin:accounts_user_add"), {**data, "role": ROLE_LOGISTICS, "region": factories.region("84").pk}
    )
    assert "Seuls les agents ARS sont rattachés à une région." in response.content.decode()
    assert not factories.User.objects.filter(email="x@example.org").exists()


def test_totp_secrets_are_stored_encrypted():
    secret = generate_totp_secret()
    agent = _agent(totp_secret=secret)
    stored = Authenticator.objects.get(user=agent, type=Authenticator.Type.TOTP).data["secret"]
    assert secret not in stored
    assert (
        Authenticator.objects.get(user=agent, type=Authenticator.Type.TOTP).wrap().validate_code(_current_code(secret))
    )


def test_a_new_agent_proves_their_address_then_enrols_totp(client):
    import re

    from django.core import mail

    agent = _agent()
    EmailAddress.objects.filter(user=agent).update(verified=False)  # as created by SpF in the admin

    response = _password_step(client, agent)

    assert response["Location"] == "/accounts/confirm-email/"
    message = mail.outbox[-1]
    assert message.to == [agent.email] and message.subject == "[Commande de vaccins] Confirmez votre adresse e-mail"
    code = re.search(r"\b([A-Z]{4}-[A-Z]{4})\b", message.body).group(1)
    page = client.get("/accounts/confirm-email/")
    assert page.status_code == 200 and agent.email in page.content.decode()
    response = client.post("/accounts/confirm-email/", {"code": code})
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    assert EmailAddress.objects.get(user=agent).verified
