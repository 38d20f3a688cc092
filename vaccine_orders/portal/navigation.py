"""The main navigation, per audience. Each app adds its entries here, in the order of the menu."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    audiences: frozenset[str]


PUBLIC = "public"  # everybody, logged in or not
PHARMACY = "pharmacy"
ARS = "ars"
STAFF = "staff"

ENTRIES: list[NavEntry] = [
    NavEntry("Accueil", "home", frozenset({PUBLIC})),
    NavEntry("Saisie de commande", "orders:start", frozenset({PHARMACY})),
    NavEntry("Mes commandes", "orders:list", frozenset({PHARMACY})),
    NavEntry("Suivi de commande", "fulfilment:list", frozenset({PHARMACY})),
    NavEntry("Mes effecteurs", "effectors:list", frozenset({PHARMACY})),
    NavEntry("Mes demandes", "support_my_requests", frozenset({PHARMACY})),
    NavEntry("Rapports", "reports:index", frozenset({ARS, STAFF})),
    NavEntry("Actualités", "news", frozenset({PUBLIC})),
    NavEntry("Calendrier d'ouverture", "sessions_calendar:calendar", frozenset({PUBLIC})),
    NavEntry("Besoin d'aide ?", "help", frozenset({PUBLIC})),
]


def audiences_for(request: HttpRequest) -> set[str]:
    user = request.user
    audiences = {PUBLIC}
    if user.is_authenticated:
        if getattr(user, "pharmacy_id", None):
            audiences.add(PHARMACY)
        if getattr(user, "region_id", None):
            audiences.add(ARS)
        if user.is_staff:
            audiences.add(STAFF)
    return audiences


@lru_cache(maxsize=128)
def _entry_url(url_name: str, script_prefix: str, urlconf: str) -> str:
    """The menu is on every page: its URLs, which take no argument, are reversed once per process (they were a
    twentieth of a page's function calls). The key holds what reverse() reads besides the name."""
    return reverse(url_name)


def nav_for(request: HttpRequest) -> list[dict[str, object]]:
    audiences = audiences_for(request)
    items = []
    for entry in ENTRIES:
        if entry.audiences & audiences:
            url = _entry_url(entry.url_name, get_script_prefix(), settings.ROOT_URLCONF)
            active = request.path == url if url == "/" else request.path.startswith(url)
            items.append({"label": entry.label, "url": url, "active": active})
    return items
