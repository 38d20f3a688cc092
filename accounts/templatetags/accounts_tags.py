"""Template helpers of the login pages and of the service-wide banners."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _switches(request: Any) -> Any:
    """The service switches, read once per request (every page shows the "PSC indisponible" banner)."""
    from vaccine_orders.portal.models import ServiceSettings

    if request is None:
        return ServiceSettings.load()
    if not hasattr(request, "_service_settings"):
        request._service_settings = ServiceSettings.load()
    return request._service_settings


@register.simple_tag(takes_context=True)
def service_switches(context: template.Context) -> Any:
    return _switches(context.get("request"))


@register.simple_tag
def support_link(reason: str, error: str = "") -> str:
    from vaccine_orders.portal.support import support_url

    return support_url(reason, error=error)


@register.inclusion_tag("accounts/includes/banners.html", takes_context=True)
def account_banners(context: template.Context) -> dict[str, Any]:
    """ "Renseignez l'adresse e-mail de votre officine" while an officine's address is not verified: without it
    the e-mail code login (when PSC is down) could not reach the officine."""
    request = context.get("request")
    user = getattr(request, "user", None)
    pharmacy = getattr(user, "pharmacy", None) if user is not None and user.is_authenticated else None
    url_name = request.resolver_match.url_name if request is not None and request.resolver_match else ""
    return {
        "email_missing": pharmacy is not None and not pharmacy.email_verified_at,
        "on_email_page": (url_name or "").startswith("pharmacy_email"),
    }
