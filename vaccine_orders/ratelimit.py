"""Rate limits of the POSTs that cost something: order entry and validation, cancellation, the e-mail codes.

One shared primitive (vaccine_orders.portal.antispam.rate_limit_allows: a fixed-window counter in the shared
cache, Redis in production, so a limit holds across every gunicorn worker and machine) and one answer: a French
page with HTTP 429 and Retry-After. The rates are settings (RATE_LIMITS, "<count>/<period>", e.g. "30/10m").

The other limits of the service are not repeated here:
- the login pages (agents' form, PSC button) and the codes sent by e-mail: allauth's ACCOUNT_RATE_LIMITS (its 429
  page is templates/429.html, the same as ours);
- the support form: vaccine_orders.portal.antispam (per address and per e-mail address).

Views of this project use the `rate_limit(action)` decorator, under their access decorator (an anonymous user is
sent to the login page, not counted). Views we do not own (allauth's code pages) are limited by URL name through
`RateLimitMiddleware`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from vaccine_orders.portal.antispam import client_ip, rate_limit_allows

View = Callable[..., HttpResponse]

_RATE = re.compile(r"^\s*(?P<count>\d+)\s*/\s*(?P<number>\d*)(?P<unit>[smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# POSTs to pages we do not own, limited by URL name → the action (its rate in settings.RATE_LIMITS).
RATE_LIMITED_ROUTES: dict[str, str] = {
    # The fallback login by e-mail code (allauth): asking for a code, typing it.
    "account_request_login_code": "login_code",
    "account_confirm_login_code": "login_code",
    # "Visualiser compte" → the officine's e-mail address, proved with a code (accounts).
    "pharmacy_email_first": "email_code",
    "pharmacy_email_edit": "email_code",
    "pharmacy_email_confirm": "email_code",
}

DEFAULT_MESSAGE = (
    "Vous avez fait trop de demandes en peu de temps : patientez quelques minutes, puis réessayez. "
    "Cette dernière demande n'a pas été prise en compte."
)


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/10m" → (30, 600): at most 30 in any fixed window of 600 seconds."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"Limite de débit illisible : {rate!r} (attendu par exemple « 30/10m »).")
    window = int(match["number"] or 1) * _UNIT_SECONDS[match["unit"]]
    return int(match["count"]), window


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def consume(request: HttpRequest, action: str) -> tuple[bool, int]:
    """Count this request for `action`; (allowed, seconds until the window ends). No rate set: always allowed."""
    rate = settings.RATE_LIMITS.get(action)
    if not rate:
        return True, 0
    limit, window = parse_rate(rate)
    allowed = rate_limit_allows(scope=f"post-{action}", key=_who(request), limit=limit, window_seconds=window)
    return allowed, window - int(time.time()) % window


def too_many_requests(request: HttpRequest, *, retry_after: int, message: str = DEFAULT_MESSAGE) -> HttpResponse:
    response = render(request, "429.html", {"page_title": "Trop de demandes", "message": message}, status=429)
    response["Retry-After"] = str(max(1, retry_after))
    return response


def rate_limit(action: str) -> Callable[[View], View]:
    """Limit the POSTs of a view to settings.RATE_LIMITS[action], per account (per address when anonymous)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                allowed, retry_after = consume(request, action)
                if not allowed:
                    return too_many_requests(request, retry_after=retry_after)
            return view(request, *args, **kwargs)

        wrapper.rate_limit_action = action  # type: ignore[attr-defined]
        return wrapper

    return decorator


class RateLimitMiddleware:
    """The same limit for the POSTs of RATE_LIMITED_ROUTES (after authentication: per account when logged in)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        if request.method != "POST":
            return None
        match = request.resolver_match
        action = RATE_LIMITED_ROUTES.get(match.view_name) if match else None
        if action is None:
            return None
        allowed, retry_after = consume(request, action)
        return None if allowed else too_many_requests(request, retry_after=retry_after)
