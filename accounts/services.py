"""Writes of the accounts app: the pharmacy account behind a PSC login, its e-mail address, the login journal.

The officine's e-mail lives in three places that must agree: ``Pharmacy.email`` / ``email_verified_at`` (what
the rest of the service reads), ``User.email`` and allauth's ``EmailAddress`` (what the e-mail code login looks
up). `pharmacy_email_set` is the only writer of all three.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.utils import timezone

from vaccine_orders.audit.actors import Actor
from vaccine_orders.audit.services import audit_record

from .emails import send_templated_mail
from .models import Pharmacy, User
from .psc.claims import PscIdentity
from .selectors import pharmacies_for_psc_identity

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """A refusal the user must read, in French."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


ERROR_MESSAGES = {
    "email_taken": "Cette adresse e-mail est déjà celle d'un autre compte du service : choisissez l'adresse de "
    "votre officine.",
    "no_account": "Ce compte d'officine n'existe pas.",
}


class RefusalKind(enum.StrEnum):
    PROFILE = "profile"  # "Votre profil ne permet pas de commander"
    REFERENTIAL = "referential"  # "Problème de référentiel"


@dataclass
class PscLoginRefused(Exception):
    kind: RefusalKind
    identity: PscIdentity
    detail: str


@dataclass
class PharmacyChoiceRequired(Exception):
    """The person may order for several officines (gérant cases, data lag): they pick one."""

    pharmacies: list[Pharmacy]


def psc_login_resolve(*, identity: PscIdentity, chosen_finess: str | None = None) -> Pharmacy:
    """The officine a PSC login opens, re-checked at every login.

    Raises PscLoginRefused ("profil" when no activity of the claims may order, "référentiel" when one may but
    no authority of the local table confirms it on a known officine) or PharmacyChoiceRequired.
    """
    if not identity.candidates:
        if identity.is_pharmacist:
            detail = f"RPPS {identity.rpps} : aucune activité de titulaire ou de gérant d'officine."
        else:
            detail = f"RPPS {identity.rpps} : pas d'activité de pharmacien."
        raise PscLoginRefused(RefusalKind.PROFILE, identity, detail)
    pharmacies = pharmacies_for_psc_identity(identity=identity)
    if not pharmacies:
        detail = (
            f"Problème de référentiel : RPPS {identity.rpps} sans officine connue "
            f"(FINESS {', '.join(identity.candidate_finess)})."
        )
        raise PscLoginRefused(RefusalKind.REFERENTIAL, identity, detail)
    if chosen_finess:
        for pharmacy in pharmacies:
            if pharmacy.finess == chosen_finess:
                return pharmacy
        raise PharmacyChoiceRequired(pharmacies)
    if len(pharmacies) > 1:
        raise PharmacyChoiceRequired(pharmacies)
    return pharmacies[0]


def _account_of(pharmacy: Pharmacy) -> User | None:
    return User.objects.filter(pharmacy=pharmacy).first()


def pharmacy_account_get_or_create(*, pharmacy: Pharmacy, actor: Actor) -> User:
    """The one account of an officine, created at its first PSC login (co-titulaires share it).

    Two co-titulaires logging in for the first time at the same instant both end up on the same row: the
    one-to-one constraint on ``User.pharmacy`` settles the race, the loser reads the winner's row.
    """
    user = _account_of(pharmacy)
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User(username=f"officine-{pharmacy.finess}", pharmacy=pharmacy)
            user.set_unusable_password()  # PSC or a one-time code, never a password
            if pharmacy.email and pharmacy.email_verified_at:
                user.email = pharmacy.email
            user.save()
            if user.email:
                EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
            audit_record(
                actor=actor,
                action="accounts.pharmacy_account_created",
                target=user,
                pharmacy=pharmacy,
                summary=f"Création du compte de l'officine {pharmacy.finess} à sa première connexion.",
            )
    except IntegrityError:
        user = User.objects.get(pharmacy=pharmacy)
    return user


def _lock_pharmacy(pk: int) -> Pharmacy:
    """Two titulaires confirming two addresses at the same moment: without this row lock both delete "the
    other" addresses before either commits, and the second insert of a primary address collides with the
    first (or the three copies disagree). Locked, the second waits and replaces the first, audited."""
    return Pharmacy.objects.select_for_update().get(pk=pk)


def pharmacy_email_set(*, pharmacy: Pharmacy, email: str, actor: Actor) -> None:
    """Record the officine's e-mail address, verified by a code just sent to it, and tell the previous
    address (if any) that it changed."""
    email = email.strip().lower()
    with transaction.atomic():
        pharmacy = _lock_pharmacy(pharmacy.pk)
        user = User.objects.filter(pharmacy=pharmacy).first()
        if user is None:
            raise AccountError(ERROR_MESSAGES["no_account"], code="no_account")
        previous = pharmacy.email if pharmacy.email_verified_at else ""
        if EmailAddress.objects.filter(email__iexact=email, verified=True).exclude(user=user).exists():
            raise AccountError(ERROR_MESSAGES["email_taken"], code="email_taken")
        try:
            with transaction.atomic():
                EmailAddress.objects.filter(user=user).exclude(email__iexact=email).delete()
                EmailAddress.objects.update_or_create(
                    user=user, email=email, defaults={"verified": True, "primary": True}
                )
        except IntegrityError as exc:  # another account verified the same address in between
            raise AccountError(ERROR_MESSAGES["email_taken"], code="email_taken") from exc
        user.email = email
        user.save(update_fields=["email"])
        pharmacy.email = email
        pharmacy.email_verified_at = timezone.now()
        pharmacy.save(update_fields=["email", "email_verified_at", "updated_at"])
        audit_record(
            actor=actor,
            action="accounts.pharmacy_email_changed",
            target=pharmacy,
            pharmacy=pharmacy,
            summary="Adresse e-mail de l'officine vérifiée par code." if not previous else "Adresse e-mail modifiée.",
            before={"email": previous},
            after={"email": email},
        )
        if previous and previous != email:
            context = {"pharmacy": pharmacy, "previous": previous, "email": email, "actor": actor.label}
            transaction.on_commit(
                lambda: send_templated_mail("accounts/email/pharmacy_email_changed", previous, context)
            )


def login_record(*, actor: Actor, user: User, method: str) -> None:
    """A line in the journal for each login: who acted, on which account, how."""
    audit_record(
        actor=actor,
        action="accounts.login",
        target=user,
        pharmacy=user.pharmacy if user.pharmacy_id else None,
        summary=f"Connexion ({method}).",
    )


def login_refusal_record(*, identity: PscIdentity | None, reason: str, detail: str) -> None:
    """Refusals are kept too: support answers "Problème de référentiel" requests from them."""
    label = identity.label if identity and identity.rpps else "Identité Pro Santé Connect non vérifiée"
    logger.warning("Connexion Pro Santé Connect refusée (%s) : %s", reason, detail)
    audit_record(
        actor=Actor.system(label),
        action="accounts.login_refused",
        summary=detail,
        after={
            "reason": reason,
            "rpps": identity.rpps if identity else "",
            "finess": list(identity.candidate_finess) if identity else [],
        },
    )


def agent_setup(*, user: User, role: str, actor: Actor) -> None:
    """Give a new agent (created by SpF in the admin) their role and their e-mail login.

    The address is recorded unverified: the agent proves it with a code at the first login (allauth), then
    enrols TOTP (accounts.access)."""
    from django.contrib.auth.models import Group

    from .roles import ROLES

    if role not in ROLES:
        raise AccountError(f"Rôle inconnu : {role}", code="role")
    with transaction.atomic():
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        EmailAddress.objects.update_or_create(
            user=user, email=user.email.lower(), defaults={"primary": True, "verified": False}
        )
        audit_record(
            actor=actor,
            action="accounts.agent_created",
            target=user,
            summary=f"Création du compte de l'agent {user.email} ({role}"
            + (f", {user.region.name}" if user.region_id else "")
            + ").",
        )
