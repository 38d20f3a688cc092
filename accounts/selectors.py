"""Reads for the login and the account pages."""

from __future__ import annotations

from django.db.models import QuerySet

from vaccine_orders.precompiled import PrecompiledGet

from .models import PharmacistAuthority, Pharmacy, User
from .psc.claims import PscIdentity

_PHARMACY = PrecompiledGet(Pharmacy)


def pharmacy_of_user(user: User) -> Pharmacy | None:
    """The officine of a pharmacy account (None for any other account), read once per request on every
    pharmacy page: compiled once per process (vaccine_orders.precompiled), then kept on the user."""
    if user.pharmacy_id is None:
        return None
    if not User.pharmacy.is_cached(user):
        user.pharmacy = _PHARMACY.get(user.pharmacy_id)
    return user.pharmacy


def pharmacies_for_psc_identity(*, identity: PscIdentity) -> list[Pharmacy]:
    """The officines this person may order for: a candidate FINESS of their PSC activities (accounts.psc.claims)
    confirmed by an active authority of the local table, on an officine still in the referential.

    The table is the final authority: a titulaire removed from it (sale of the officine, SpF's correction)
    loses access at the next login even while PSC still lists the activity.
    """
    if not identity.rpps or not identity.candidate_finess:
        return []
    return list(
        Pharmacy.objects.filter(
            is_active=True,
            finess__in=identity.candidate_finess,
            authorities__rpps=identity.rpps,
            authorities__is_active=True,
        )
        .select_related("department")
        .distinct()
        .order_by("name", "finess")
    )


def pharmacy_authorities(*, pharmacy: Pharmacy) -> QuerySet[PharmacistAuthority]:
    return pharmacy.authorities.filter(is_active=True).order_by("last_name", "first_name")


def pharmacy_psc_identities(*, user: User) -> list[dict[str, str]]:
    """The PSC identities linked to a pharmacy account, for "Visualiser compte"."""
    from allauth.socialaccount.models import SocialAccount

    from .psc.claims import psc_identity

    identities = []
    for account in SocialAccount.objects.filter(user=user, provider="prosanteconnect").order_by("date_joined"):
        identity = psc_identity((account.extra_data or {}).get("userinfo") or {})
        identities.append(
            {
                "name": identity.display_name,
                "rpps": identity.rpps or account.uid,
                "last_login": account.last_login,
            }
        )
    return identities
