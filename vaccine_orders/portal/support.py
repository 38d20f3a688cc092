"""The reasons of the support form, exactly those of seed 000, and the link every error page uses.

Other pages link to the form with a reason pre-selected and the error attached:
`support_url(SupportReason.REFERENTIEL, error="Problème de référentiel : RPPS 1000… sans officine")`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.db import models
from django.urls import reverse


class SupportReason(models.TextChoices):
    ASSISTANCE_SAISIE = "assistance_saisie", "Je souhaite une assistance à la saisie de commande sur le nouvel outil"
    QUESTION_COMMANDE = "question_commande", "J'ai une question sur ma commande de vaccins"
    DELAIS = "delais", "J'ai une question sur les délais de commandes et de livraison de vaccins"
    LIVRAISON_DM = (
        "livraison_dm",
        ("J'ai une question sur la livraison des dispositifs médicaux / matériel d'injection"),
    )
    CONNEXION_PSC = "connexion_psc", "Je n'arrive pas à me connecter via Pro Santé Connect"
    SSO_TECHNIQUE = (
        "sso_technique",
        ("J'ai un message d'erreur lié à ma connexion : « Problème technique SSO d'authentification »"),
    )
    REFERENTIEL = "referentiel", "J'ai un message d'erreur lié à ma connexion : « Problème de référentiel »"
    EFFECTEUR_AUTRE_OFFICINE = (
        "effecteur_autre_officine",
        (
            "Je n'arrive pas à rattacher un professionnel de santé ou un établissement : "
            "ils sont rattachés à une autre officine"
        ),
    )
    EFFECTEUR_INTROUVABLE = (
        "effecteur_introuvable",
        (
            "Je n'arrive pas à rattacher un professionnel de santé ou un établissement : "
            "professionnel de santé ou établissement introuvable"
        ),
    )
    STRATEGIE_VACCINALE = "strategie_vaccinale", "J'ai une question sur la stratégie vaccinale"
    AUTRE = "autre", "Autre motif"


def support_url(reason: SupportReason | str | None = None, *, error: str = "") -> str:
    """The support form's URL with a reason pre-selected and the error message attached."""
    params = {}
    if reason:
        params["motif"] = str(reason)
    if error:
        params["erreur"] = error[:500]
    url = reverse("support_request")
    return f"{url}?{urlencode(params)}" if params else url


# The support desk's groups (their permissions are granted by accounts/roles.py). Both levels work the
# queue and read an officine's file; neither may change orders or effectors.
SUPPORT_LEVEL_1_GROUP = "Support niveau 1"
SUPPORT_LEVEL_2_GROUP = "Support niveau 2"
SUPPORT_PERMISSIONS: tuple[str, ...] = (
    "portal.view_supportrequest",
    "portal.change_supportrequest",
    "portal.view_pharmacy_file",
)
SUPPORT_GROUP_PERMISSIONS: dict[str, tuple[str, ...]] = {
    SUPPORT_LEVEL_1_GROUP: SUPPORT_PERMISSIONS,
    SUPPORT_LEVEL_2_GROUP: SUPPORT_PERMISSIONS,
}
