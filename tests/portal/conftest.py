"""The portal's cast: support agents of both levels, and a way to post the support form as a person
would (a token served some seconds earlier)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from tests import factories
from vaccine_orders.portal.antispam import form_token_issue
from vaccine_orders.portal.support import SUPPORT_GROUP_PERMISSIONS, SUPPORT_LEVEL_1_GROUP, SUPPORT_LEVEL_2_GROUP


def _group(name: str) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    for label in SUPPORT_GROUP_PERMISSIONS[name]:
        app_label, codename = label.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def login_agent(client, user) -> None:
    """Log an agent in as the staff login does, second factor (TOTP) included."""
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = [{"method": "mfa", "type": "totp", "at": time.time()}]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


@pytest.fixture
def agent_login(client):
    def login(user):
        login_agent(client, user)
        return client

    return login


@pytest.fixture
def support_agent(db):
    agent = factories.StaffUserFactory(first_name="Léa", last_name="Support")
    agent.groups.add(_group(SUPPORT_LEVEL_1_GROUP))
    return agent


@pytest.fixture
def support_agent_2(db):
    agent = factories.StaffUserFactory(first_name="Marc", last_name="Niveau2")
    agent.groups.add(_group(SUPPORT_LEVEL_2_GROUP))
    return agent


@pytest.fixture
def token():
    """A form token served `seconds_ago` (10 by default): old enough not to look like a robot."""

    def issue(seconds_ago: int = 10) -> str:
        with time_machine.travel(timezone.now() - timedelta(seconds=seconds_ago), tick=False):
            return form_token_issue()

    return issue


@pytest.fixture
def anonymous_data(token):
    def build(**overrides):
        data = {
            "reason": "connexion_psc",
            "message": "La connexion échoue depuis ce matin.",
            "name": "Claire Martin",
            "email": "claire.martin@example.org",
            "finess": "",
            "phone": "",
            "error": "",
            "site_web": "",
            "jeton": token(),
        }
        data.update(overrides)
        return data

    return build
