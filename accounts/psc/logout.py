"""RP-initiated logout at PSC (allauth has none): the end-session endpoint with id_token_hint.

The post-logout redirect URI, <site>/compte/deconnexion/, must be registered with PSC beside the redirect URI.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from allauth.socialaccount.adapter import get_adapter
from django.http import HttpRequest
from django.urls import reverse
from requests import RequestException

from .views import PROVIDER_ID, PscLoginError, PSCOAuth2Adapter

logger = logging.getLogger(__name__)


def end_session_url(request: HttpRequest, *, id_token: str) -> str | None:
    """None when PSC cannot be reached or has no end-session endpoint: the local logout still happens."""
    try:
        provider = get_adapter().get_provider(request, PROVIDER_ID)
        endpoint = PSCOAuth2Adapter(request).openid_config.get("end_session_endpoint")
    except (RequestException, PscLoginError, ValueError) as exc:
        logger.warning("Déconnexion Pro Santé Connect impossible : %s", exc)
        return None
    if not endpoint:
        return None
    params = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("psc_logged_out")),
        "client_id": provider.app.client_id,
    }
    return f"{endpoint}?{urlencode(params)}"
