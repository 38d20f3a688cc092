"""PSC-shaped userinfo documents, for the local demo provider and the tests.

The shape follows the PSC userinfo of the research note (PSC.md §1.6): ``SubjectNameID`` = "8" + RPPS and the
professional data under ``SubjectRefPro.exercices[].activities[]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PSC_ACR = "eidas1"


def pharmacist_activity(
    *,
    finess: str,
    role: str = "FON-03",
    section: str = "A",
    sector: str = "SA33",
    site_name: str = "PHARMACIE DE DEMONSTRATION",
) -> dict[str, Any]:
    return {
        "codeModeExercice": "L" if role in ("FON-03", "FON-07") else "S",
        "codeSecteurDactivite": sector,
        "codeSectionPharmacien": section,
        "codeRole": role,
        "codeGenreActivite": "GENR01",
        "numeroFinessSite": finess,
        "raisonSocialeSite": site_name,
        "codePostal": "75011",
        "codeDepartement": finess[:2],
    }


def psc_userinfo(
    *,
    rpps: str,
    first_name: str,
    last_name: str,
    profession: str = "21",
    activities: list[dict[str, Any]] | None = None,
    acr: str | None = PSC_ACR,
) -> dict[str, Any]:
    """The claims of one person. ``acr`` is included so that a provider that copies user claims into the ID
    token (the test provider does) returns it there."""
    claims: dict[str, Any] = {
        "SubjectNameID": f"8{rpps}",
        "given_name": first_name.upper(),
        "family_name": last_name.upper(),
        "preferred_username": f"8{rpps}",
        "otherIds": [{"identifiant": f"8{rpps}", "origine": "RPPS", "qualite": 1}],
        "SubjectRefPro": {
            "codeCivilite": "",
            "exercices": [
                {
                    "codeProfession": profession,
                    "codeCategorieProfessionnelle": "C",
                    "nomDexercice": last_name.upper(),
                    "prenomDexercice": first_name.upper(),
                    "activities": activities or [],
                }
            ],
        },
    }
    if acr is not None:
        claims["acr"] = acr
    return claims


@dataclass(frozen=True)
class DemoIdentity:
    key: str
    title: str
    description: str
    claims: dict[str, Any]

    @property
    def sub(self) -> str:
        return self.claims["SubjectNameID"]


def demo_identities() -> list[DemoIdentity]:
    """The people offered by the demo PSC of `make run` (names from the demo data when it is loaded)."""
    from vaccine_orders.demo import (
        DEMO_ADJOINT_RPPS,
        DEMO_COTITULAIRE_RPPS,
        DEMO_DOCTOR_RPPS,
        DEMO_PHARMACY_FINESS,
        DEMO_TITULAIRE_RPPS,
    )
    from vaccine_orders.identifiers import make_finess, make_rpps

    names = {
        DEMO_TITULAIRE_RPPS: ("Claire", "Martin"),
        DEMO_COTITULAIRE_RPPS: ("Julien", "Bernard"),
        DEMO_ADJOINT_RPPS: ("Sophie", "Dubois"),
        DEMO_DOCTOR_RPPS: ("Nicolas", "Thomas"),
    }
    site_name = "PHARMACIE DU MARCHE"
    pharmacy_name = "Pharmacie du Marché"
    try:
        from accounts.models import PharmacistAuthority, Pharmacy
        from effectors.models import Professional

        pharmacy = Pharmacy.objects.filter(finess=DEMO_PHARMACY_FINESS).first()
        if pharmacy is not None:
            site_name, pharmacy_name = pharmacy.name.upper(), pharmacy.name
        for authority in PharmacistAuthority.objects.filter(pharmacy__finess=DEMO_PHARMACY_FINESS):
            names[authority.rpps] = (authority.first_name, authority.last_name)
        doctor = Professional.objects.filter(rpps=DEMO_DOCTOR_RPPS).first()
        if doctor is not None:
            names[DEMO_DOCTOR_RPPS] = (doctor.first_name, doctor.last_name)
    except Exception:  # noqa: S110 - no database yet: the default names will do
        pass

    def person(rpps: str) -> tuple[str, str]:
        first, last = names[rpps]
        return first.title(), last.upper()

    unknown_finess = make_finess("75099999")
    unknown_rpps = make_rpps("1000000005")
    identities = []
    first, last = person(DEMO_TITULAIRE_RPPS)
    identities.append(
        DemoIdentity(
            "titulaire",
            f"{first} {last} – pharmacienne titulaire",
            f"Titulaire de l'officine « {pharmacy_name} » (FINESS {DEMO_PHARMACY_FINESS}) : peut commander.",
            psc_userinfo(
                rpps=DEMO_TITULAIRE_RPPS,
                first_name=first,
                last_name=last,
                activities=[pharmacist_activity(finess=DEMO_PHARMACY_FINESS, site_name=site_name)],
            ),
        )
    )
    first, last = person(DEMO_COTITULAIRE_RPPS)
    identities.append(
        DemoIdentity(
            "cotitulaire",
            f"{first} {last} – pharmacien co-titulaire",
            "Co-titulaire de la même officine : arrive sur le même compte d'officine.",
            psc_userinfo(
                rpps=DEMO_COTITULAIRE_RPPS,
                first_name=first,
                last_name=last,
                activities=[pharmacist_activity(finess=DEMO_PHARMACY_FINESS, site_name=site_name)],
            ),
        )
    )
    first, last = person(DEMO_ADJOINT_RPPS)
    identities.append(
        DemoIdentity(
            "adjoint",
            f"{first} {last} – pharmacienne adjointe",
            "Adjointe de la même officine : « Votre profil ne permet pas de commander ».",
            psc_userinfo(
                rpps=DEMO_ADJOINT_RPPS,
                first_name=first,
                last_name=last,
                activities=[
                    pharmacist_activity(finess=DEMO_PHARMACY_FINESS, role="FON-05", section="D", site_name=site_name)
                ],
            ),
        )
    )
    first, last = person(DEMO_DOCTOR_RPPS)
    identities.append(
        DemoIdentity(
            "medecin",
            f"Dr {first} {last} – médecin",
            "Médecin généraliste : « Votre profil ne permet pas de commander ».",
            psc_userinfo(
                rpps=DEMO_DOCTOR_RPPS,
                first_name=first,
                last_name=last,
                profession="10",
                activities=[
                    {
                        "codeModeExercice": "L",
                        "codeSecteurDactivite": "SA07",
                        "codeSectionPharmacien": "",
                        "codeRole": "",
                        "numeroFinessSite": "",
                        "raisonSocialeSite": "CABINET DU DR " + last,
                    }
                ],
            ),
        )
    )
    identities.append(
        DemoIdentity(
            "finess-inconnu",
            "Hélène Garcia – titulaire d'une officine inconnue",
            f"Titulaire d'une officine (FINESS {unknown_finess}) absente du référentiel : « Problème de référentiel ».",
            psc_userinfo(
                rpps=unknown_rpps,
                first_name="Hélène",
                last_name="Garcia",
                activities=[pharmacist_activity(finess=unknown_finess, site_name="PHARMACIE INCONNUE")],
            ),
        )
    )
    return identities
