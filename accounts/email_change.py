"""Proving the officine's e-mail address with a one-time code (first-login dialog and "Modifier").

The pending address and its code live in the session of the person doing it: nothing is written to the
database before the right code comes back (then accounts.services.pharmacy_email_set writes it all).
"""

from __future__ import annotations

import enum
import secrets
import string
import time
from dataclasses import dataclass

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import HttpRequest

from .emails import send_templated_mail
from .models import Pharmacy

SESSION_KEY = "pharmacy_email_change"


def _timeout() -> int:
    return getattr(settings, "PHARMACY_EMAIL_CODE_TIMEOUT", 15 * 60)


def _max_attempts() -> int:
    return getattr(settings, "PHARMACY_EMAIL_CODE_MAX_ATTEMPTS", 3)


def _normalize(code: str) -> str:
    return code.translate(str.maketrans("", "", string.punctuation + string.whitespace)).upper()


class CheckResult(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    BLOCKED = "blocked"  # too many wrong codes: start again
    EXPIRED = "expired"


@dataclass(frozen=True)
class PendingChange:
    email: str
    pharmacy_id: int
    attempts_left: int


def email_change_start(request: HttpRequest, *, pharmacy: Pharmacy, email: str) -> None:
    code = get_adapter(request).generate_email_verification_code()
    request.session[SESSION_KEY] = {
        "email": email.strip().lower(),
        "pharmacy_id": pharmacy.pk,
        "code": code,
        "at": time.time(),
        "failed": 0,
    }
    send_templated_mail(
        "accounts/email/pharmacy_email_code",
        email,
        {"code": code, "pharmacy": pharmacy, "minutes": _timeout() // 60},
    )


def email_change_pending(request: HttpRequest, *, pharmacy: Pharmacy) -> PendingChange | None:
    state = request.session.get(SESSION_KEY)
    if not state or state.get("pharmacy_id") != pharmacy.pk:
        return None
    if time.time() - state["at"] > _timeout():
        request.session.pop(SESSION_KEY, None)
        return None
    return PendingChange(
        email=state["email"], pharmacy_id=state["pharmacy_id"], attempts_left=_max_attempts() - state["failed"]
    )


def email_change_check(request: HttpRequest, *, pharmacy: Pharmacy, code: str) -> tuple[CheckResult, str]:
    """Compare the code typed with the one sent. Returns the result and the pending e-mail address."""
    state = request.session.get(SESSION_KEY)
    if not state or state.get("pharmacy_id") != pharmacy.pk or time.time() - state["at"] > _timeout():
        request.session.pop(SESSION_KEY, None)
        return CheckResult.EXPIRED, ""
    if secrets.compare_digest(_normalize(code).encode(), _normalize(state["code"]).encode()):
        request.session.pop(SESSION_KEY, None)
        return CheckResult.OK, state["email"]
    state["failed"] += 1
    if state["failed"] >= _max_attempts():
        request.session.pop(SESSION_KEY, None)
        return CheckResult.BLOCKED, state["email"]
    request.session[SESSION_KEY] = state
    return CheckResult.WRONG, state["email"]


def email_change_cancel(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
