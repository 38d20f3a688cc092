"""allauth ships pages this service does not offer (sign-up, account connections, password and e-mail
management for officines). They are closed here, by URL name, so that the project's URL map stays allauth's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

# Nobody signs up and nobody links or unlinks third-party accounts by hand.
CLOSED_TO_ALL = frozenset(
    {
        "account_signup",
        "account_signup_by_passkey",
        "socialaccount_signup",
        "socialaccount_connections",
        "account_change_phone",
    }
)
# An officine account has no password and no TOTP; its e-mail is managed in "Visualiser compte".
PHARMACY_REDIRECTED_PREFIXES = ("account_email", "account_change_password", "account_set_password", "mfa_")


class AccountRoutesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        match = request.resolver_match
        name = match.url_name if match else None
        if not name:
            return None
        if name in CLOSED_TO_ALL:
            raise Http404("Page non proposée par le service.")
        user = getattr(request, "user", None)
        is_pharmacy = user is not None and user.is_authenticated and getattr(user, "pharmacy_id", None)
        if is_pharmacy and name.startswith(PHARMACY_REDIRECTED_PREFIXES):
            return redirect("pharmacy_account")
        return None
