"""Reads for the login and the account pages."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from vaccine_orders.precompiled import PrecompiledQuery

from .models import PharmacistAuthority, Pharmacy, User
from .psc.claims import PscIdentity

_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_PHARMACY_FIELDS = [field.attname for field in Pharmacy._meta.concrete_fields]
# The user of every request with their officine, as AccountManager's select_related("pharmacy") gives them.
_USER_WITH_PHARMACY = PrecompiledQuery(
    lambda user_id: (
        User._base_manager.filter(pk=user_id)
        .order_by()
        .values_list(*_USER_FIELDS, *(f"pharmacy__{name}" for name in _PHARMACY_FIELDS))
    ),
    "user_id",
)


def user_with_pharmacy(*, user_id: object) -> User | None:
    """The account stored in a session (its id as the session keeps it), with its officine loaded: read on every
    request by the authentication backends (accounts.backends), compiled once per process."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    rows = _USER_WITH_PHARMACY.rows(user_id=user_id)
    if not rows:
        return None
    split = len(_USER_FIELDS)
    user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, rows[0][:split])
    pharmacy = None
    if user.pharmacy_id is not None:
        pharmacy = Pharmacy.from_db(DEFAULT_DB_ALIAS, _PHARMACY_FIELDS, rows[0][split:])
    User.pharmacy.field.set_cached_value(user, pharmacy)
    return user


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
