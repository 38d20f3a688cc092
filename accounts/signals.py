"""Signal receivers (connected in accounts.apps): session bookkeeping only, no business rule."""

from __future__ import annotations

from typing import Any


def record_enrolled_second_factor(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    """Enrolling a TOTP authenticator means typing a valid code from it: the session has proved the second
    factor, as after a TOTP login (accounts.access.second_factor_verified)."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator

    if request is None or authenticator.type != Authenticator.Type.TOTP:
        return
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)
