"""What every page needs: the DSFR site configuration (from settings, not a database row) and the
service banners."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

SITE_CONFIG = SimpleNamespace(
    site_title=settings.SERVICE_NAME,
    site_tagline=settings.SERVICE_OPERATOR,
    header_brand_html="République<br>française",
    footer_brand_html="République<br>française",
    footer_description=(
        "Commande de vaccins est le service de Santé publique France par lequel les officines commandent "
        "les vaccins et dispositifs médicaux du stock d'État, pour elles et pour les professionnels et "
        "établissements qui leur sont rattachés."
    ),
    accessibility_status="Accessibilité : partiellement conforme",
    beta_tag=False,
    mourning=False,
    notice_title="",
    notice_description="",
)


def site(request: HttpRequest) -> dict[str, Any]:
    from .navigation import nav_for
    from .selectors import banners_current

    return {
        "SITE_CONFIG": SITE_CONFIG,
        "SERVICE_NAME": settings.SERVICE_NAME,
        "SERVICE_OPERATOR": settings.SERVICE_OPERATOR,
        "main_nav": nav_for(request),
        # Lazy: read (in one query) only by pages that show the banners, not by the admin or e-mails.
        "banners": SimpleLazyObject(lambda: banners_current(at=timezone.now())),
    }
