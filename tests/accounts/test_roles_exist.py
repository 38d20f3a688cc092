"""Every permission a role lists must exist: a misspelt codename would silently leave a role without access
(the sync skips codenames of models that do not exist yet, by design)."""

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.roles import ROLES

pytestmark = pytest.mark.django_db


def test_every_listed_permission_exists_after_migrate():
    existing = {
        f"{app}.{codename}" for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    missing = {role: sorted(set(perms) - existing) for role, perms in ROLES.items()}
    assert not any(missing.values()), missing


def test_logistics_can_confirm_and_export_and_support_can_only_read():
    logistics = set(Group.objects.get(name="Logistique SpF").permissions.values_list("codename", flat=True))
    assert {
        "change_confirmationline",
        "change_sessionconfirmation",
        "add_logisticsexport",
        "change_outboxmessage",
        "view_dailyreport",
    } <= logistics
    support = set(Group.objects.get(name="Support niveau 1").permissions.values_list("codename", flat=True))
    assert "view_confirmationline" in support
    assert not {p for p in support if p.startswith(("change_confirmation", "change_order", "add_order"))}


@pytest.mark.parametrize(
    ("group", "status"),
    [("Logistique SpF", 200), ("Support niveau 1", 200), ("Support niveau 2", 200), ("Agent ARS", 403)],
)
def test_the_fulfilment_admin_opens_for_the_roles_that_need_it(client, django_user_model, group, status):
    from django.urls import reverse

    from tests.psc import login_agent

    agent = django_user_model.objects.create_user(f"a-{group}", f"{group[:3]}@example.org", "pw", is_staff=True)
    agent.groups.add(Group.objects.get(name=group))
    login_agent(client, agent)
    for name in ("admin:fulfilment_sessionconfirmation_changelist", "admin:fulfilment_confirmationline_changelist"):
        assert client.get(reverse(name)).status_code == status, name
