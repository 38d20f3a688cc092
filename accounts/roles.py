"""The roles of SpF agents and ARS agents, defined in one place: group name -> permissions ("app.codename").

The groups are synced after every `migrate` (post_migrate, accounts.apps): each group gets exactly the listed
permissions that exist. A codename of a model that does not exist yet is simply skipped, so an app adds the
codenames of its future models here and they are attached as soon as its migration creates them.
Edit this file, not the groups in the admin (a migrate would undo the change).
"""

from __future__ import annotations

import logging

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)

ROLE_LOGISTICS = "Logistique SpF"
ROLE_SUPPORT_1 = "Support niveau 1"
ROLE_SUPPORT_2 = "Support niveau 2"
ROLE_ARS = "Agent ARS"

STAFF_ROLES = frozenset({ROLE_LOGISTICS, ROLE_SUPPORT_1, ROLE_SUPPORT_2})


def _crud(label: str, *models: str, actions: tuple[str, ...] = ("view", "add", "change", "delete")) -> list[str]:
    return [f"{label}.{action}_{model}" for model in models for action in actions]


def _view(label: str, *models: str) -> list[str]:
    return _crud(label, *models, actions=("view",))


# What a support agent of level 1 reads to answer a pharmacy on the phone (read-only).
_SUPPORT_READ = [
    *_view("accounts", "pharmacy", "pharmacistauthority", "region", "department"),
    *_view("orders", "product", "order", "orderline"),
    *_view("sessions_calendar", "ordersession", "productoffer", "caprule", "pilotgroup"),
    *_view("effectors", "effectortype", "professional", "establishment", "effector", "attachment", "transferrequest"),
    *_view("portal", "newsitem", "servicesettings", "helpdocument"),
    *_view("audit", "auditevent"),
    *_view(
        "fulfilment",
        "sessionconfirmation",
        "confirmationline",
        "sessionfulfilment",
        "regionaldeliverydate",
        "ordersummary",
        "outboxmessage",
    ),
    *_crud("portal", "supportrequest", "supportmessage", actions=("view", "add", "change")),
    # The support's read-only file of an officine (orders, effectors); every display is journaled.
    "portal.view_pharmacy_file",
]

ROLES: dict[str, list[str]] = {
    # SpF logistics: catalogue, calendar, caps and stocks, confirmation, mailings, referential imports, news, the
    # service switches ("PSC indisponible", maintenance), support requests.
    ROLE_LOGISTICS: [
        *_SUPPORT_READ,
        *_crud("orders", "product"),
        *_crud("orders", "order", "orderline", actions=("view", "change")),
        *_crud("sessions_calendar", "ordersession", "productoffer", "caprule", "pilotgroup", "sessionreminder"),
        *_crud("effectors", "professional", "establishment", "effector", "attachment", "transferrequest"),
        *_crud("effectors", "referentialimport", "importrejection", actions=("view", "add", "change")),
        *_crud("accounts", "pharmacy", actions=("view", "add", "change")),
        *_crud("accounts", "pharmacistauthority"),
        *_crud("portal", "newsitem", "helpdocument"),
        *_crud("portal", "servicesettings", actions=("view", "change")),
        *_view("portal", "scheduledjobrun"),
        # Confirmation, delivery dates, exports and the mailing outbox (fulfilment's admin pages and actions).
        *_crud("fulfilment", "sessionconfirmation", "confirmationline", "outboxmessage", actions=("view", "change")),
        *_crud("fulfilment", "sessionfulfilment", "logisticsexport", actions=("view", "add", "change")),
        *_crud("fulfilment", "regionaldeliverydate"),
        *_view("fulfilment", "ordersummary"),
        # ARS daily reports: read them, manage the agents' subscriptions.
        *_view("reports", "dailyreport"),
        *_crud("reports", "reportsubscription", actions=("view", "delete")),
    ],
    # Level 1 (call centre): reads and answers support requests.
    ROLE_SUPPORT_1: list(_SUPPORT_READ),
    # Level 2 (SpF): also fixes referential problems (authorities, attachments) and opens the e-mail code
    # fallback when PSC is down.
    ROLE_SUPPORT_2: [
        *_SUPPORT_READ,
        *_crud("accounts", "pharmacistauthority"),
        *_crud("effectors", "attachment", "transferrequest", actions=("view", "add", "change")),
        *_crud("portal", "servicesettings", actions=("view", "change")),
    ],
    # ARS agents read the reports of their region (pages outside the admin, scoped by accounts.access).
    ROLE_ARS: [
        *_view("orders", "order", "orderline", "product"),
        *_view("accounts", "pharmacy"),
        *_view("effectors", "effector", "effectortype"),
    ],
}


def sync_roles(*, using: str = DEFAULT_DB_ALIAS, apps=global_apps) -> dict[str, int]:
    """Create the groups and give each exactly its listed permissions. Returns permissions per group."""
    from django.contrib.auth.management import create_permissions

    # post_migrate runs app by app: make sure the permissions of every app exist before attaching them
    # (the real app configs, as Django's own handler passes them; `apps` may be the migration state).
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=apps)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    by_key = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    counts = {}
    for name, keys in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = sorted({by_key[key] for key in keys if key in by_key})
        group.permissions.set(wanted)
        counts[name] = len(wanted)
    return counts


def sync_roles_after_migrate(sender, using: str = DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    try:
        apps.get_model("auth", "Group")
        apps.get_model("auth", "Permission")
    except LookupError:
        return
    sync_roles(using=using, apps=apps)
