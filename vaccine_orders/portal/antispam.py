"""Protection of the public support form without a third-party captcha.

- a honeypot field that people never see and robots fill in;
- a signed timestamp token: a form posted less than a few seconds after it was served, posted after it
  expired, or posted a second time is refused;
- rate limits per IP address and per e-mail address.

Counters and used tokens live in the shared cache (Redis in production), so that the limits hold across
every gunicorn worker and every machine.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

TOKEN_SALT = "vaccine_orders.portal.support-form"  # noqa: S105 - a signing namespace, not a secret
HONEYPOT_FIELD = "site_web"


@dataclass(frozen=True)
class TokenCheck:
    nonce: str | None
    error: str | None


def form_token_issue() -> str:
    """A fresh token for one form display: a random nonce and the time it was served, signed."""
    return signing.dumps({"n": secrets.token_urlsafe(16), "t": int(time.time())}, salt=TOKEN_SALT, compress=False)


def form_token_check(token: str) -> TokenCheck:
    """Verify the signature, the age and the speed of a posted token (not yet whether it was used)."""
    max_age = settings.SUPPORT_FORM_MAX_AGE_SECONDS
    try:
        payload = signing.loads(token or "", salt=TOKEN_SALT, max_age=max_age)
    except signing.SignatureExpired:
        return TokenCheck(nonce=None, error="Le formulaire a expiré. Vérifiez votre saisie puis envoyez-le de nouveau.")
    except signing.BadSignature:
        return TokenCheck(
            nonce=None, error="Le formulaire n'a pas pu être vérifié. Vérifiez votre saisie puis renvoyez-le."
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str) or not isinstance(payload.get("t"), int):
        return TokenCheck(
            nonce=None, error="Le formulaire n'a pas pu être vérifié. Vérifiez votre saisie puis renvoyez-le."
        )
    if time.time() - payload["t"] < settings.SUPPORT_FORM_MIN_SECONDS:
        return TokenCheck(
            nonce=None,
            error="Le formulaire a été envoyé trop vite pour avoir été rempli. Relisez-le puis envoyez-le de nouveau.",
        )
    return TokenCheck(nonce=payload["n"], error=None)


def form_token_consume(nonce: str) -> bool:
    """Mark the token as used; False when it already was (a replay, or a double click on "Envoyer").

    `cache.add` is atomic in Redis (SET NX), so two workers receiving the same token cannot both win.
    """
    return cache.add(f"support-form-token:{nonce}", 1, timeout=settings.SUPPORT_FORM_MAX_AGE_SECONDS + 60)


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind `TRUSTED_PROXY_COUNT` reverse proxies, the address they appended to
    X-Forwarded-For (the only part a client cannot forge); otherwise REMOTE_ADDR."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_limit_allows(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt for `key` in the current fixed window; False once `limit` is exceeded.

    On Redis one atomic script counts and sets the expiry (vaccine_orders.cache); elsewhere (the local memory cache
    of development and tests) `add` then `incr`, each atomic, so concurrent workers never lose a count.
    """
    digest = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]
    window = int(time.time() // window_seconds)
    cache_key = f"ratelimit:{scope}:{digest}:{window}"
    counter = getattr(cache, "count", None)
    if counter is not None:
        return counter(cache_key, timeout=window_seconds + 60) <= limit
    cache.add(cache_key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: count this attempt as the first one
        cache.add(cache_key, 1, timeout=window_seconds + 60)
        count = 1
    return count <= limit


RATE_LIMIT_MESSAGE = (
    "Vous avez envoyé trop de demandes en peu de temps : merci de réessayer dans une heure. "
    "Vos demandes déjà envoyées sont bien reçues et seront traitées."
)


def support_rate_limit_ip(request: HttpRequest) -> bool:
    return rate_limit_allows(
        scope="support-ip",
        key=client_ip(request),
        limit=settings.SUPPORT_RATE_LIMIT_PER_IP,
        window_seconds=3600,
    )


def support_rate_limit_email(email: str) -> bool:
    return rate_limit_allows(
        scope="support-email",
        key=email,
        limit=settings.SUPPORT_RATE_LIMIT_PER_EMAIL,
        window_seconds=3600,
    )
