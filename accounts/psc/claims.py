"""Who may order for an officine, read from the Pro Santé Connect userinfo claims (pure functions).

The rule of seed 001: "le ou l'un des pharmaciens titulaires de l'officine ; le gérant de l'officine après
décès ; le gérant d'une pharmacie minière ou mutualiste". In the claims (ANS nomenclatures, research note
PSC.md §2), per activity of an exercice of a pharmacist (``codeProfession`` 21):

- titulaire: fonction ``FON-03`` (TRE_R21), or section/sous-section ``A`` / ``EA`` of the Ordre (TRE_R06,
  TRE_G05; overseas titulaires are ``EA``, section ``E`` alone also covers overseas adjoints);
- gérant après décès: fonction ``FON-07``;
- gérant of a mining or mutualist pharmacy: sector ``SA38`` / ``SA39`` and (fonction ``FON-23`` or
  sous-section ``DM``).

An activity must carry the officine's FINESS géographique (``numeroFinessSite``). A pharmacist activity with
no fonction and no section at all (incomplete referential data, as in the public samples) is a candidate
too: the local table of pharmacist authorities decides alone for it. Anything explicit and different
(adjoint ``FON-05`` / ``DA``, remplaçant ``FON-04``, PUI, biologist, other professions) is refused.

This module only reads claims; the table of authorities (accounts.selectors) has the last word.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PHARMACIST_PROFESSION = "21"
ROLE_TITULAIRE = "FON-03"
ROLE_GERANT_APRES_DECES = "FON-07"
ROLE_GERANT = "FON-23"
SECTIONS_TITULAIRE = frozenset({"A", "EA"})
SOUS_SECTION_MUTUALISTE = "DM"
SECTORS_MINIERE_MUTUALISTE = frozenset({"SA38", "SA39"})


class Basis(enum.StrEnum):
    """Why an activity may order (the PharmacistAuthority.Role values, plus "unknown")."""

    TITULAIRE = "titulaire"
    GERANT_APRES_DECES = "gerant_apres_deces"
    GERANT_MINIERE_MUTUALISTE = "gerant_mutualiste"
    # A pharmacist activity without fonction nor section: only the table of authorities can tell.
    UNKNOWN = "inconnu"


@dataclass(frozen=True)
class Candidate:
    finess: str
    basis: Basis
    site_name: str = ""


@dataclass(frozen=True)
class PscIdentity:
    """What the service keeps from a PSC login: who the person is and the officines they may order for."""

    id_nat_ps: str
    rpps: str
    first_name: str
    last_name: str
    is_pharmacist: bool
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or f"RPPS {self.rpps}"

    @property
    def label(self) -> str:
        """The acting identity recorded in the audit journal."""
        return f"{self.display_name} – RPPS {self.rpps} (Pro Santé Connect)"

    @property
    def candidate_finess(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.finess for c in self.candidates))


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _code(value: Any) -> str:
    """Nomenclature codes sometimes come with their OID ("SA33^1.2.250.1.71.4.2.4"): keep the code."""
    return _text(value).split("^", 1)[0].upper()


def rpps_from_id_nat_ps(id_nat_ps: str) -> str:
    """idNatPs = "8" + RPPS for the professionals registered in the RPPS (all pharmacists are)."""
    value = _text(id_nat_ps)
    if len(value) == 12 and value.startswith("8"):
        return value[1:]
    return value


def activity_basis(activity: Mapping[str, Any]) -> Basis | None:
    """The basis on which a pharmacist's activity may order, or None when it may not."""
    role = _code(activity.get("codeRole"))
    section = _code(activity.get("codeSectionPharmacien"))
    sector = _code(activity.get("codeSecteurDactivite"))
    savoir_faire = _code(activity.get("codeSavoirFaire"))
    # The Ordre's (sous-)section may arrive in the section field or as a savoir-faire "G15_21/DM".
    sections = {code for code in (section, savoir_faire.rpartition("/")[2] if "/" in savoir_faire else "") if code}
    if role == ROLE_TITULAIRE or sections & SECTIONS_TITULAIRE:
        return Basis.TITULAIRE
    if role == ROLE_GERANT_APRES_DECES:
        return Basis.GERANT_APRES_DECES
    if sector in SECTORS_MINIERE_MUTUALISTE and (role == ROLE_GERANT or SOUS_SECTION_MUTUALISTE in sections):
        return Basis.GERANT_MINIERE_MUTUALISTE
    if not role and not sections:
        return Basis.UNKNOWN
    return None


def _exercices(claims: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ref_pro = claims.get("SubjectRefPro")
    if not isinstance(ref_pro, Mapping):
        return []
    exercices = ref_pro.get("exercices")
    if not isinstance(exercices, list):
        return []
    return [e for e in exercices if isinstance(e, Mapping)]


def psc_identity(claims: Mapping[str, Any]) -> PscIdentity:
    """Read a PSC userinfo document. Never raises on odd data: missing parts simply give no candidate."""
    id_nat_ps = _text(claims.get("SubjectNameID"))
    first_name = ""
    last_name = ""
    is_pharmacist = False
    candidates: list[Candidate] = []
    for exercice in _exercices(claims):
        if not first_name and not last_name:
            first_name = _text(exercice.get("prenomDexercice")).title()
            last_name = _text(exercice.get("nomDexercice")).upper()
        if _code(exercice.get("codeProfession")) != PHARMACIST_PROFESSION:
            continue
        is_pharmacist = True
        activities = exercice.get("activities")
        for activity in activities if isinstance(activities, list) else []:
            if not isinstance(activity, Mapping):
                continue
            finess = _text(activity.get("numeroFinessSite")).upper()
            basis = activity_basis(activity)
            if finess and basis is not None:
                candidates.append(
                    Candidate(finess=finess, basis=basis, site_name=_text(activity.get("raisonSocialeSite")))
                )
    if not first_name and not last_name:
        first_name = _text(claims.get("given_name")).title()
        last_name = _text(claims.get("family_name")).upper()
    return PscIdentity(
        id_nat_ps=id_nat_ps,
        rpps=rpps_from_id_nat_ps(id_nat_ps),
        first_name=first_name,
        last_name=last_name,
        is_pharmacist=is_pharmacist,
        candidates=tuple(candidates),
    )
