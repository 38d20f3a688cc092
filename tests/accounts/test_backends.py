"""The authentication backends read the account of each request, with its officine, in one precompiled query."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.backends import AuthenticationBackend, ModelBackend
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("backend", [ModelBackend(), AuthenticationBackend()])
def test_the_user_comes_with_its_officine_in_one_query(backend):
    user = factories.PharmacyUserFactory()
    with CaptureQueriesContext(connection) as captured:
        loaded = backend.get_user(str(user.pk))  # the session keeps the id as text
        assert loaded.pharmacy.name == user.pharmacy.name and loaded.pharmacy.finess == user.pharmacy.finess
    assert len(captured) == 1
    assert loaded == user and loaded.email == user.email and loaded.password == user.password
    assert loaded.get_session_auth_hash() == user.get_session_auth_hash()


def test_an_agent_without_officine_has_none_without_a_query():
    agent = factories.StaffUserFactory()
    with CaptureQueriesContext(connection) as captured:
        loaded = ModelBackend().get_user(agent.pk)
        assert loaded.pharmacy is None and loaded.is_staff
    assert len(captured) == 1


def test_an_inactive_unknown_or_malformed_account_is_nobody():
    user = factories.PharmacyUserFactory(is_active=False)
    backend = ModelBackend()
    assert backend.get_user(user.pk) is None
    assert backend.get_user(10**9) is None
    assert backend.get_user("pas-un-identifiant") is None


def test_both_login_paths_use_the_precompiled_backends():
    assert settings.AUTHENTICATION_BACKENDS == [
        "accounts.backends.ModelBackend",
        "accounts.backends.AuthenticationBackend",
    ]


def test_a_logged_in_officine_reaches_its_pages(client):
    user = factories.PharmacyUserFactory()
    client.force_login(user)
    response = client.get("/commandes/")
    assert response.status_code == 200 and response.wsgi_request.user == user
