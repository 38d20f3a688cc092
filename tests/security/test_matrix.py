"""The authorization matrix: every URL of the URL configuration × every role, with the expected answer.

- `test_every_url_has_an_entry`: a URL pattern without an entry in tests/security/matrix.py (or a family) fails,
  naming it; an entry whose URL no longer exists fails too.
- `test_matrix`: one test per URL: every case (GET, and POST where the URL takes one) for the nine roles.
- the admin family: every admin URL refuses the outsiders; representatives for the agents who may enter.
- mutations: removing one permission check (any guard decorator, an ownership or a region filter, the admin's
  second factor) makes the matrix fail. They prove that the matrix can see what it claims to guard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.test import Client

from accounts.middleware import PHARMACY_REDIRECTED_PREFIXES

from .matrix import (
    ACCOUNT,
    ADMIN_FAMILY,
    ADMIN_LOGIN,
    ADMIN_REPRESENTATIVES,
    AGENT_LOGIN,
    MATRIX,
    Case,
    Redirect,
    all_routes,
    cases_of,
    family_of,
    outcome,
    run_case,
    sample_path,
)
from .world import ANON, ARS_X, ARS_Y, PHARMACY_A, PHARMACY_B, World

pytestmark = pytest.mark.django_db


def _matrix_problems(key: str, world: World, clients: dict, **options) -> list[str]:
    return [problem for case in cases_of(key) for problem in run_case(key, case, world, clients, **options)]


# --- coverage -----------------------------------------------------------------------------------------------------


def test_every_url_has_an_entry():
    routes = all_routes()
    missing = [
        f"{route.key}  (/{route.route})" for route in routes if route.key not in MATRIX and family_of(route.key) is None
    ]
    assert not missing, (
        "URL(s) without an entry in the authorization matrix (tests/security/matrix.py, MATRIX): "
        + ", ".join(missing)
        + ". Add what each role must get (see the module's docstring)."
    )
    stale = set(MATRIX) - {route.key for route in routes}
    assert not stale, f"matrix entries for URLs that no longer exist: {sorted(stale)}"


def test_every_guarded_view_is_in_the_matrix_with_a_refusal():
    """Each URL whose view carries an access rule has at least one case where some role is refused."""
    for route in all_routes():
        if getattr(route.callback, "access_rule", None) is None:
            continue
        refusals = [
            expected
            for case in cases_of(route.key)
            for expected in case.expected.values()
            if expected in (403, 404) or isinstance(expected, Redirect)
        ]
        assert refusals, f"{route.key}: a guarded page with no refused role in the matrix"


# --- the matrix, URL by URL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(MATRIX))
def test_matrix(key, world, clients):
    problems = _matrix_problems(key, world, clients)
    assert not problems, "\n".join(problems)


# --- the admin family ---------------------------------------------------------------------------------------------


def _admin_outsiders(world: World) -> dict[str, Client]:
    """Who must never get an admin page: anonymous, an officine, an ARS agent, and a logistics agent whose
    session did not pass the second factor."""
    without_totp = Client()
    without_totp.force_login(world.logistics_without_totp)
    return {
        ANON: world.client(ANON),
        PHARMACY_A: world.client(PHARMACY_A),
        ARS_X: world.client(ARS_X),
        "logistique sans second facteur": without_totp,
    }


# The admin's own login and logout answer differently from its pages (and so does its logout for an outsider).
ADMIN_SPECIAL = {
    "admin:login": {
        ANON: AGENT_LOGIN,
        PHARMACY_A: 403,
        ARS_X: 403,
        # No authenticator enrolled yet: enrol one first.
        "logistique sans second facteur": Redirect("/accounts/2fa/totp/activate/"),
    },
    "admin:logout": dict.fromkeys((ANON, PHARMACY_A, ARS_X, "logistique sans second facteur"), Redirect("/admin/")),
}


def _admin_routes() -> list:
    routes = [route for route in all_routes() if family_of(route.key) is ADMIN_FAMILY]
    assert len(routes) > 100  # every model admin's pages, not a handful
    return routes


def _admin_problems(world: World, clients: dict[str, Client], routes: list) -> list[str]:
    problems = []
    for route in routes:
        path = sample_path(route)
        for role, client in clients.items():
            want = ADMIN_SPECIAL.get(route.key, {}).get(role, ADMIN_LOGIN)
            if role == PHARMACY_A and route.key.removeprefix("admin:").startswith(PHARMACY_REDIRECTED_PREFIXES):
                # accounts.middleware sends officines away from allauth's pages by URL name, and the admin pages
                # of allauth's models (account_emailaddress_*, mfa_authenticator_*) share those names.
                want = ACCOUNT
            try:
                got = outcome(client.get(path))
            except Exception as exc:
                got = f"exception {type(exc).__name__}: {exc}"[:200]
            if got != want:
                problems.append(f"GET {path} ({route.key}) as {role}: expected {want}, got {got}")
    return problems


def test_every_admin_url_refuses_outsiders(world):
    problems = _admin_problems(world, _admin_outsiders(world), _admin_routes())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(ADMIN_REPRESENTATIVES))
def test_admin_representatives(key, world, clients):
    case = Case("GET", None, ADMIN_REPRESENTATIVES[key])
    problems = run_case(key, case, world, clients)
    assert not problems, "\n".join(problems)


# --- mutations: the matrix sees a missing check -------------------------------------------------------------------


def _guard_chain(callback) -> list:
    chain = [callback]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    return chain


@contextlib.contextmanager
def without_guard(route) -> Iterator[None]:
    """Remove the access decorator (accounts.access) of one URL's view, wherever it sits among the other
    decorators (require_POST above it, for instance): the function that calls it is pointed at what it wraps."""
    chain = _guard_chain(route.callback)
    # The guard is the innermost function carrying access_rule (functools.wraps copies it to outer wrappers).
    index = max(i for i, fn in enumerate(chain) if "access_rule" in vars(fn))
    guard, inner = chain[index], chain[index + 1]
    if index == 0:
        original = route.pattern.callback
        route.pattern.callback = inner
        try:
            yield
        finally:
            route.pattern.callback = original
        return
    caller = chain[index - 1]
    cell = next(c for c in caller.__closure__ if c.cell_contents is guard)
    cell.cell_contents = inner
    try:
        yield
    finally:
        cell.cell_contents = guard


GUARDED = sorted(route.key for route in all_routes() if getattr(route.callback, "access_rule", None))


def test_the_guarded_urls_are_many():
    assert len(GUARDED) >= 35, GUARDED


@pytest.mark.parametrize("key", GUARDED)
def test_removing_the_access_decorator_of_any_url_makes_the_matrix_fail(key, world, clients):
    """For every guarded URL: without its decorator, the matrix reports it (anonymous users are no longer sent
    to the login page, agents no longer refused). The control: with the decorator, the same roles pass."""
    route = next(route for route in all_routes() if route.key == key)
    roles = (ANON, ARS_X)
    assert not _matrix_problems(key, world, clients, only=roles)
    with without_guard(route):
        assert _matrix_problems(key, world, clients, only=roles), f"{key}: the matrix did not notice"


def test_removing_the_ownership_check_of_an_order_makes_the_matrix_fail(world, clients, monkeypatch):
    """The order page looks the order up among the officine's own: without that filter officine B reads A's."""
    from vaccine_orders.orders import selectors, views
    from vaccine_orders.orders.models import Order

    def any_pharmacy(*, pharmacy, reference):
        return Order.objects.select_related("session").get(reference=reference)

    assert not _matrix_problems("orders:detail", world, clients, only=(PHARMACY_B,))
    monkeypatch.setattr(views, "order_for_pharmacy", any_pharmacy)
    monkeypatch.setattr(selectors, "order_for_pharmacy", any_pharmacy)
    problems = _matrix_problems("orders:detail", world, clients, only=(PHARMACY_B,))
    assert problems and "expected 404, got 200" in problems[0]


def test_removing_the_region_filter_of_the_daily_reports_makes_the_matrix_fail(world, clients, monkeypatch):
    from fulfilment.reports import selectors, views
    from fulfilment.reports.models import DailyReport

    def every_region(*, user, pk, today):
        return DailyReport.objects.filter(pk=pk).first()

    assert not _matrix_problems("reports:daily_download", world, clients, only=(ARS_Y,))
    monkeypatch.setattr(selectors, "daily_report_for", every_region)
    monkeypatch.setattr(views, "daily_report_for", every_region, raising=False)
    problems = _matrix_problems("reports:daily_download", world, clients, only=(ARS_Y,))
    assert problems, "the matrix did not notice region Y's agent reading region X's report"


def test_removing_the_admin_second_factor_makes_the_matrix_fail(world, monkeypatch):
    from django.contrib import admin

    from accounts import admin_site

    outsider = {"logistique sans second facteur": _admin_outsiders(world)["logistique sans second facteur"]}
    routes = [route for route in _admin_routes() if route.key in ("admin:index", "admin:orders_order_changelist")]
    assert not _admin_problems(world, outsider, routes)
    # The admin's check calls accounts.admin_site.second_factor_verified: make it always true. (Not a patch of
    # admin.site itself: it is a LazyObject, which pytest's monkeypatch cannot restore.)
    monkeypatch.setattr(admin_site, "second_factor_verified", lambda request: True)
    problems = _admin_problems(world, outsider, routes)
    assert any("logistique sans second facteur: expected 302→/admin/login/, got 200" in p for p in problems)
    assert admin.site.has_permission.__qualname__ == "install.<locals>.has_permission"
