"""The authorization matrix: for every URL of the URL configuration, what each role gets.

How it is read (tests/security/test_matrix.py):
- every URL pattern reachable from ``django.urls.get_resolver()`` is walked, including the admin's and allauth's;
- a pattern is covered either by an entry of ``MATRIX`` (its key: ``namespace:name``, or the route for the few
  unnamed patterns) or by a family of ``FAMILIES`` (the admin: one guard for all its pages, see below);
- a pattern with neither fails the test, naming the pattern.

Adding an entry for a new URL (e.g. ``fulfilment:new_page`` taking ``reference``):

    "fulfilment:new_page": get(lambda w: {"reference": w.past_order_a.reference}, PHARMACY_OBJECT),

``get``/``post`` take the URL kwargs (a function of the World, or None), the expected status of each role (a
profile below, or your own dict built with ``every``), and optionally the query string or POST data. Objects of
the World belong to officine A / region X, so that officine B and the agent of region Y show a foreign user.
A URL that accepts POST gets a ``post`` case too (a list of cases), with the status of an EMPTY or minimal
POST: what matters is that the wrong role is refused before anything is done.

Expected values: an HTTP status, or ``Redirect(path)`` (a 302 to exactly that path, query string ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .world import (
    AGENTS,
    ANON,
    ARS,
    ARS_X,
    ARS_Y,
    LOGISTICS,
    PHARMACIES,
    PHARMACY_A,
    PHARMACY_B,
    REGION_X,
    ROLES,
    STAFF,
    SUPERUSER,
    World,
)


@dataclass(frozen=True)
class Redirect:
    path: str
    prefix: bool = False  # any path under `path` (an object's page whose id the matrix does not know)

    def __str__(self) -> str:
        return f"302→{self.path}" + ("…" if self.prefix else "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Redirect):
            return False
        if self.prefix:
            return other.path.startswith(self.path)
        if other.prefix:
            return self.path.startswith(other.path)
        return self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)


@dataclass(frozen=True)
class AnyOf:
    """One of several statuses: a page whose answer depends on the machine, not on the role (/healthz)."""

    statuses: tuple[int, ...]

    def __str__(self) -> str:
        return " or ".join(map(str, self.statuses))

    def __eq__(self, other: object) -> bool:
        return other in self.statuses if isinstance(other, int) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.statuses)


Expected = int | Redirect | AnyOf

LOGIN = Redirect("/accounts/login/")  # officines: the PSC login page
AGENT_LOGIN = Redirect("/compte/connexion-agents/")  # agents: e-mail, password, TOTP
ADMIN_LOGIN = Redirect("/admin/login/")
HOME = Redirect("/")
ADMIN = Redirect("/admin/")
ACCOUNT = Redirect("/compte/")  # allauth's pages an officine has no use for send it to "Mon compte"


def every(expected: Expected, **_: Any) -> dict[str, Expected]:
    return dict.fromkeys(ROLES, expected)


def roles(base: dict[str, Expected], overrides: dict[str, Expected]) -> dict[str, Expected]:
    return {**base, **overrides}


def _for(names: tuple[str, ...], expected: Expected) -> dict[str, Expected]:
    return dict.fromkeys(names, expected)


PUBLIC = every(200)
# A page of the officine itself (its lists, its grid): any officine sees its own; agents are refused.
PHARMACY_PAGE = roles(every(403), {ANON: LOGIN, PHARMACY_A: 200, PHARMACY_B: 200})
# An object of officine A named in the URL: officine B gets a 404, exactly as for an object that does not exist.
PHARMACY_OBJECT = roles(every(403), {ANON: LOGIN, PHARMACY_A: 200, PHARMACY_B: 404})
# Reports asked for region X: its agent and SpF staff see it; the agent of region Y gets a 404, never figures.
ARS_REGION_X = roles(every(200), {ANON: AGENT_LOGIN, **_for(PHARMACIES, 403), ARS_Y: 404})
# The support's read-only file of an officine: SpF staff holding portal.view_pharmacy_file (all three roles).
SUPPORT_PAGE = roles(every(403), {ANON: AGENT_LOGIN, **_for(STAFF, 200)})
# allauth's agent pages (password, TOTP): agents only; officines are sent to "Mon compte".
AGENT_ACCOUNT_PAGE = roles(every(200), {ANON: LOGIN, **_for(PHARMACIES, ACCOUNT)})
# A login page: anonymous users see it, a logged-in user is sent on (staff to the admin).
LOGIN_PAGE = roles(every(ADMIN), {ANON: 200, **_for(PHARMACIES, HOME), **_for(ARS, HOME)})  # STAFF → admin: the default


@dataclass(frozen=True)
class Case:
    method: str
    kwargs: Callable[[World], dict[str, Any]] | None
    expected: dict[str, Expected]
    query: Callable[[World], dict[str, Any]] | None = None
    data: Callable[[World], dict[str, Any]] | None = None
    # Texts (functions of the World) that a role's answer must not contain: a list page of officine B must not
    # show officine A's objects.
    hidden_from: dict[str, Callable[[World], list[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(ROLES) - set(self.expected)
        assert not missing, f"case without an expected status for {sorted(missing)}"


def get(kwargs=None, expected=PUBLIC, **options) -> Case:
    return Case("GET", kwargs, expected, **options)


def post(kwargs=None, expected=PUBLIC, **options) -> Case:
    return Case("POST", kwargs, expected, **options)


def _a_order(w: World) -> dict:
    return {"reference": w.order_a.reference}


def _a_past_order(w: World) -> dict:
    return {"reference": w.past_order_a.reference}


def _a_attachment(w: World) -> dict:
    return {"attachment_id": w.attachment_a.pk}


def _open_session(w: World) -> dict:
    return {"session_id": w.open_session.pk}


def _region_x(w: World) -> dict:
    return {"region": REGION_X}


def _region_x_sessions(w: World) -> dict:
    return {"region": REGION_X, "periode": "sessions", "sessions": [w.published_session.pk, w.open_session.pk]}


def _a_objects(w: World) -> list[str]:
    """What of officine A a list page of officine B must never show."""
    return [w.order_a.reference, w.past_order_a.reference, w.attachment_a.effector.display_name]


def _grid_post(w: World) -> dict:
    """A complete submission of officine A's grid: one quantity for A's doctor (officine B's grid has no such
    cell: the same POST by B is refused as a foreign cell)."""
    from vaccine_orders.orders.models import Product

    janssen = Product.objects.get(code="janssen")
    doctor = w.attachment_a.effector
    return {
        "version": str(w.order_a.version),
        "token": "matrice-jeton-0123456789",
        "action": "suivant",
        f"q-{doctor.pk}-{janssen.pk}-0": "5",
    }


_B_HIDDEN = {PHARMACY_B: _a_objects}

MATRIX: dict[str, Case | list[Case]] = {
    # --- portal ---------------------------------------------------------------------------------------------
    "home": get(hidden_from=_B_HIDDEN),
    # For the load balancer: public, the same for everybody (200 when every dependency is up, 503 otherwise).
    "healthz": [get(expected=every(AnyOf((200, 503)))), post(expected=every(405))],
    "news": get(),
    "help": get(),
    "help_document_download": get(lambda w: {"pk": w.help_document.pk}),
    "accessibility": get(),  # the accessibility statement (RGAA)
    "personal_data": get(),
    "support_request": [get(), post(expected=every(400))],  # an empty form: every field refused
    # Only right after sending a request (its reference is in the session); otherwise back to the form.
    "support_request_sent": get(expected=every(Redirect("/support/"))),
    "support_my_requests": get(
        expected=PHARMACY_PAGE, hidden_from={PHARMACY_B: lambda w: [w.support_request_a.reference]}
    ),
    "support_my_request_detail": get(lambda w: {"reference": w.support_request_a.reference}, PHARMACY_OBJECT),
    "support_pharmacy_search": get(expected=SUPPORT_PAGE, query=lambda w: {"finess": w.pharmacy_a.finess}),
    "support_pharmacy_file": get(lambda w: {"pharmacy_id": w.pharmacy_a.pk}, SUPPORT_PAGE),
    # --- orders ---------------------------------------------------------------------------------------------
    "orders:list": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "orders:start": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "orders:history": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "orders:entry": [
        # Each officine gets ITS grid of the session: B never sees A's effectors.
        get(_open_session, PHARMACY_PAGE, hidden_from=_B_HIDDEN),
        # A's cell posted by B: refused as a cell that is not B's (the grid again, with the message).
        post(_open_session, PHARMACY_PAGE, data=_grid_post, hidden_from=_B_HIDDEN),
    ],
    "orders:validate": [
        get(_open_session, roles(PHARMACY_PAGE, _for(PHARMACIES, 405))),
        # A registers (302 to the order); B posting A's cell is refused (its grid again, with the message).
        post(_open_session, roles(PHARMACY_PAGE, {PHARMACY_A: Redirect("/commandes/", prefix=True)}), data=_grid_post),
    ],
    "orders:detail": get(_a_order, PHARMACY_OBJECT),
    "orders:cancel": [
        get(_a_order, PHARMACY_OBJECT),
        # Without the right version A's cancellation is refused (back to the order); B gets a 404.
        post(_a_order, roles(PHARMACY_OBJECT, {PHARMACY_A: Redirect("/commandes/T", prefix=True)})),
    ],
    # --- effectors ("Mes effecteurs") ---------------------------------------------------------------------------
    "effectors:list": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "effectors:search": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "effectors:attach": [
        get(expected=every(405)),
        post(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, 404))),  # no identifier: "introuvable" (404)
    ],
    "effectors:history": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "effectors:detach": [
        get(_a_attachment, PHARMACY_OBJECT),
        post(_a_attachment, roles(PHARMACY_OBJECT, {PHARMACY_A: Redirect("/effecteurs/")})),
    ],
    "effectors:contact": [get(_a_attachment, PHARMACY_OBJECT), post(_a_attachment, PHARMACY_OBJECT)],
    "effectors:transfer_request": [
        get(expected=every(405)),
        post(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, 404))),  # no identifier: "introuvable" (404)
    ],
    "effectors:transfer_accept": [
        get(lambda w: {"transfer_id": w.transfer_to_a.pk}, every(405)),
        post(
            lambda w: {"transfer_id": w.transfer_to_a.pk},
            roles(PHARMACY_OBJECT, {PHARMACY_A: Redirect("/effecteurs/")}),
        ),
    ],
    "effectors:transfer_refuse": [
        get(lambda w: {"transfer_id": w.transfer_to_a.pk}, every(405)),
        post(
            lambda w: {"transfer_id": w.transfer_to_a.pk},
            roles(PHARMACY_OBJECT, {PHARMACY_A: Redirect("/effecteurs/")}),
        ),
    ],
    "effectors:transfer_cancel": [
        get(lambda w: {"transfer_id": w.transfer_from_a.pk}, every(405)),
        post(
            lambda w: {"transfer_id": w.transfer_from_a.pk},
            roles(PHARMACY_OBJECT, {PHARMACY_A: Redirect("/effecteurs/")}),
        ),
    ],
    # --- calendar -------------------------------------------------------------------------------------------
    "sessions_calendar:calendar": get(),
    "sessions_calendar:calendar_ics": get(),
    "sessions_calendar:reminders": [
        get(expected=PHARMACY_PAGE),
        post(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, Redirect("/calendrier/rappels/")))),
    ],
    # The signed token is the capability (the e-mail's link): whoever holds it, nobody else.
    "sessions_calendar:reminders_unsubscribe": [
        get(lambda w: {"token": w.unsubscribe_token_a}),
        get(lambda w: {"token": w.unsubscribe_token_a[:-2] + "xx"}, every(404)),
        post(lambda w: {"token": w.unsubscribe_token_a}),
    ],
    # --- fulfilment ("Suivi de commande") ------------------------------------------------------------------------
    "fulfilment:list": get(expected=PHARMACY_PAGE, hidden_from=_B_HIDDEN),
    "fulfilment:detail": get(_a_past_order, PHARMACY_OBJECT),
    # Not rendered yet: "en préparation" (202) for A, who may come back; a 404 for B.
    "fulfilment:summary_pdf": get(_a_past_order, roles(PHARMACY_OBJECT, {PHARMACY_A: 202})),
    # --- reports (ARS and SpF) -----------------------------------------------------------------------------------
    "reports:index": get(expected=ARS_REGION_X, query=_region_x_sessions),
    "reports:report_download": get(lambda w: {"file_format": "csv"}, ARS_REGION_X, query=_region_x_sessions),
    "reports:lines_download": get(lambda w: {"file_format": "xlsx"}, ARS_REGION_X, query=_region_x_sessions),
    "reports:requisition": get(expected=ARS_REGION_X, query=_region_x),
    # Without a product the download sends back to the form; region Y's agent asking for X still gets a 404.
    "reports:requisition_download": get(
        lambda w: {"file_format": "csv"},
        roles(
            ARS_REGION_X, {ARS_X: Redirect("/rapports/requisition/"), **_for(STAFF, Redirect("/rapports/requisition/"))}
        ),
        query=_region_x,
    ),
    "reports:daily_list": get(expected=ARS_REGION_X, query=_region_x),
    # Region X's stored report, by its id: region Y's agent gets a 404 even without any query string.
    "reports:daily_download": get(lambda w: {"pk": w.daily_report_x.pk, "file_format": "csv"}, ARS_REGION_X),
    "reports:subscription": [
        get(expected=roles(ARS_REGION_X, {**_for(ARS, 405), **_for(STAFF, 405)})),
        post(
            expected=roles(
                ARS_REGION_X,
                {**_for(ARS, Redirect("/rapports/quotidiens/")), **_for(STAFF, Redirect("/rapports/quotidiens/"))},
            )
        ),
    ],
    # --- accounts: "Mon compte" and the login pages ----------------------------------------------------------------
    "pharmacy_account": get(expected=PHARMACY_PAGE, hidden_from={PHARMACY_B: lambda w: [w.pharmacy_a.email]}),
    # The first-login dialog: the officines of the World have a verified address already.
    "pharmacy_email_first": [
        get(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, HOME))),
        post(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, HOME))),
    ],
    "pharmacy_email_edit": [get(expected=PHARMACY_PAGE), post(expected=PHARMACY_PAGE)],  # empty: the form again
    # No verification under way: back to the address form.
    "pharmacy_email_confirm": [
        get(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, Redirect("/compte/adresse-email/modifier/")))),
        post(expected=roles(PHARMACY_PAGE, _for(PHARMACIES, Redirect("/compte/adresse-email/modifier/")))),
    ],
    "staff_login": get(expected=LOGIN_PAGE),
    # Only in the middle of a PSC login that opens several officines; otherwise back to the login page.
    "psc_choose_pharmacy": [get(expected=every(LOGIN)), post(expected=every(LOGIN))],
    "psc_logged_out": get(),
    "prosanteconnect_login": get(),  # the button's page: the login itself is a POST to PSC
    "prosanteconnect_callback": get(expected=every(401)),  # no login under way: "Problème technique SSO"
    # --- allauth: public by design, except what the service closes or reserves to agents -----------------------
    "account_login": get(expected=LOGIN_PAGE),
    "account_logout": get(expected=roles(every(200), {ANON: HOME})),
    "account_inactive": get(),
    "account_signup": get(expected=every(404)),  # nobody signs up (accounts.middleware)
    "account_reauthenticate": get(expected=roles(every(200), {ANON: LOGIN})),
    "account_email": get(expected=AGENT_ACCOUNT_PAGE),
    "account_email_verification_sent": get(
        expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, Redirect("/accounts/email/")))
    ),
    "account_change_password": get(expected=AGENT_ACCOUNT_PAGE),
    "account_set_password": get(
        expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, Redirect("/accounts/password/change/")))
    ),
    "account_reset_password": get(),
    "account_reset_password_done": get(),
    "account_reset_password_from_key": get(lambda w: {"uidb36": "1", "key": "cle-invalide"}),  # "lien invalide"
    "account_reset_password_from_key_done": get(),
    "account_request_login_code": get(expected=LOGIN_PAGE),
    "account_confirm_login_code": get(expected=roles(LOGIN_PAGE, {ANON: Redirect("/accounts/login/code/")})),
    "mfa_index": get(expected=AGENT_ACCOUNT_PAGE),
    "mfa_authenticate": get(expected=roles(LOGIN_PAGE, {ANON: LOGIN, **_for(PHARMACIES, ACCOUNT)})),
    "mfa_reauthenticate": get(expected=AGENT_ACCOUNT_PAGE),
    "mfa_activate_totp": get(expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, Redirect("/accounts/reauthenticate/")))),
    # Sensitive changes ask for a fresh second factor first.
    "mfa_deactivate_totp": get(expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, Redirect("/accounts/reauthenticate/")))),
    "mfa_generate_recovery_codes": get(
        expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, Redirect("/accounts/reauthenticate/")))
    ),
    "mfa_view_recovery_codes": get(expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, 404))),  # none generated
    "mfa_download_recovery_codes": get(expected=roles(AGENT_ACCOUNT_PAGE, _for(AGENTS, 404))),
    "socialaccount_login_cancelled": get(),
    "socialaccount_login_error": get(expected=every(401)),
    "socialaccount_signup": get(expected=every(404)),  # closed (accounts.middleware)
    "socialaccount_connections": get(expected=every(404)),  # closed (accounts.middleware)
    # allauth's old URLs, permanent redirects to the new ones.
    "accounts/social/login/cancelled/": get(expected=every(Redirect("/accounts/3rdparty/login/cancelled/"))),
    "accounts/social/login/error/": get(expected=every(Redirect("/accounts/3rdparty/login/error/"))),
    "accounts/social/signup/": get(expected=every(Redirect("/accounts/3rdparty/signup/"))),
    "accounts/social/connections/": get(expected=every(Redirect("/accounts/3rdparty/"))),
}


# --- families: one guard for many URLs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """URLs whose access is decided by ONE guard, tested on every URL for the roles that must be refused and on
    representatives for the roles that may enter (their per-page permissions are Django's own, tested by the
    apps' admin tests)."""

    name: str
    matches: Callable[[str], bool]
    reason: str


ADMIN_FAMILY = Family(
    name="admin",
    matches=lambda key: key.startswith("admin:"),
    reason=(
        "Every admin page goes through AdminSite.admin_view, whose has_permission requires an active staff account "
        "AND a session that passed the TOTP second factor (accounts.admin_site). Every admin URL is requested by "
        "the roles that must be refused (anonymous, officine, ARS agent, staff without TOTP); the roles that may "
        "enter are checked on representative pages against their groups' permissions (accounts.roles)."
    ),
)
FAMILIES = [ADMIN_FAMILY]

# The roles refused on EVERY admin page, and what they get: the admin's login, which sends anonymous users to the
# agents' login and refuses logged-in non-staff accounts.
ADMIN_REFUSED = {ANON: ADMIN_LOGIN, PHARMACY_A: ADMIN_LOGIN, ARS_X: ADMIN_LOGIN}
# Representative admin pages for the roles that may enter, and what each role's permissions give.
ADMIN_REPRESENTATIVES: dict[str, dict[str, Expected]] = {
    "admin:index": roles(every(200), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN}),
    # Orders: read by support and logistics.
    "admin:orders_order_changelist": roles(every(200), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN}),
    # Users and groups: the superuser only.
    "admin:accounts_user_changelist": roles(
        every(403), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN, SUPERUSER: 200}
    ),
    # The service switches: level 2 support and logistics may change them, level 1 only reads.
    "admin:portal_servicesettings_changelist": roles(
        every(200), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN}
    ),
    # Adding a product: logistics (and the superuser) only.
    "admin:orders_product_add": roles(
        every(403), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN, LOGISTICS: 200, SUPERUSER: 200}
    ),
    # The scheduled jobs: logistics and the superuser.
    "admin:portal_scheduledjobrun_changelist": roles(
        every(403), ADMIN_REFUSED | {PHARMACY_B: ADMIN_LOGIN, ARS_Y: ADMIN_LOGIN, LOGISTICS: 200, SUPERUSER: 200}
    ),
}

# --- walking the URL configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the route when the pattern has no name
    route: str
    pattern: URLPattern

    @property
    def callback(self) -> Callable:
        return self.pattern.callback


def _walk(patterns, prefix: str = "", namespace: str | None = None) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            route = prefix + str(pattern.pattern)
            if pattern.name:
                key = f"{namespace}:{pattern.name}" if namespace else pattern.name
            else:
                key = f"{namespace}:{route}" if namespace else route
            yield Route(key=key, route=route, pattern=pattern)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def family_of(key: str) -> Family | None:
    return next((family for family in FAMILIES if family.matches(key)), None)


def cases_of(key: str) -> list[Case]:
    entry = MATRIX[key]
    return entry if isinstance(entry, list) else [entry]


_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def sample_path(route: Route) -> str:
    """A path that the pattern matches, for the admin family: converters get a sample value (objects need not
    exist: the guard answers before the view looks anything up)."""
    if route.key == "admin:app_list":
        return reverse("admin:app_list", kwargs={"app_label": "orders"})
    if "(?P<url>" in route.route:  # the admin's catch-all
        return "/admin/page-inexistante/"
    path = _CONVERTER.sub(lambda m: "1", route.route)
    assert "(?P" not in path and "^" not in path, f"no sample path for {route.route}"
    return "/" + path


def build_url(key: str, case: Case, world: World) -> str:
    kwargs = case.kwargs(world) if case.kwargs else None
    if ":" in key or "/" not in key:
        return reverse(key, kwargs=kwargs)
    return "/" + key  # an unnamed pattern: its route is its path


# --- running one case ---------------------------------------------------------------------------------------------


def outcome(response) -> Expected:
    if response.status_code in (301, 302):
        return Redirect(response["Location"].split("?")[0])
    return response.status_code


def _body(response) -> str:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    return data.decode("utf-8", errors="replace")


def run_case(key: str, case: Case, world: World, clients: dict, *, only: tuple[str, ...] = ROLES) -> list[str]:
    """Every role's answer, each in a savepoint rolled back afterwards (a POST by one role does not change what
    the next one sees). Returns the mismatches, in words."""
    from django.db import transaction

    url = build_url(key, case, world)
    query = case.query(world) if case.query else {}
    data = case.data(world) if case.data else {}
    problems = []
    for role in only:
        client = clients[role]

        class _Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                try:
                    if case.method == "GET":
                        response = client.get(url, query)
                    else:
                        target = url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
                        response = client.post(target, data)
                    got: Expected | str = outcome(response)
                    body = _body(response) if role in case.hidden_from else ""
                except Exception as exc:
                    got, body = f"exception {type(exc).__name__}: {exc}"[:200], ""
                raise _Rollback
        except _Rollback:
            pass
        want = case.expected[role]
        if got != want:
            problems.append(f"{case.method} {url} as {role}: expected {want}, got {got}")
        for text in case.hidden_from.get(role, lambda w: [])(world) if role in case.hidden_from else []:
            if text and text in body:
                problems.append(f"{case.method} {url} as {role}: shows {text!r}, which is not theirs")
    return problems
