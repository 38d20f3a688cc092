"""Who may order, from the PSC claims alone (accounts.psc.claims): a pure function."""

from __future__ import annotations

import pytest

from accounts.psc.claims import Basis, activity_basis, psc_identity, rpps_from_id_nat_ps
from accounts.psc.identities import pharmacist_activity, psc_userinfo


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        ({"codeRole": "FON-03", "codeSectionPharmacien": "A", "codeSecteurDactivite": "SA33"}, Basis.TITULAIRE),
        ({"codeRole": "FON-03", "codeSectionPharmacien": "", "codeSecteurDactivite": "SA33"}, Basis.TITULAIRE),
        ({"codeRole": "", "codeSectionPharmacien": "A", "codeSecteurDactivite": "SA33"}, Basis.TITULAIRE),
        ({"codeRole": "", "codeSectionPharmacien": "EA", "codeSecteurDactivite": "SA33"}, Basis.TITULAIRE),
        ({"codeRole": "", "codeSavoirFaire": "G15_21/A"}, Basis.TITULAIRE),
        (
            {"codeRole": "FON-07", "codeSectionPharmacien": "D", "codeSecteurDactivite": "SA33"},
            Basis.GERANT_APRES_DECES,
        ),
        (
            {"codeRole": "FON-23", "codeSectionPharmacien": "D", "codeSecteurDactivite": "SA38"},
            Basis.GERANT_MINIERE_MUTUALISTE,
        ),
        (
            {"codeRole": "", "codeSectionPharmacien": "DM", "codeSecteurDactivite": "SA39"},
            Basis.GERANT_MINIERE_MUTUALISTE,
        ),
        (
            {"codeRole": "", "codeSavoirFaire": "G15_21/DM", "codeSecteurDactivite": "SA39^1.2.250.1.71.4.2.4"},
            Basis.GERANT_MINIERE_MUTUALISTE,
        ),
        ({"codeRole": "", "codeSectionPharmacien": "", "codeSecteurDactivite": "SA33"}, Basis.UNKNOWN),
        # Refused: adjoint, remplaçant, overseas adjoint, gérant outside a mining/mutualist pharmacy, PUI.
        ({"codeRole": "FON-05", "codeSectionPharmacien": "D", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "", "codeSectionPharmacien": "DA", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "FON-04", "codeSectionPharmacien": "D", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "", "codeSectionPharmacien": "E", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "", "codeSectionPharmacien": "ED", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "FON-23", "codeSectionPharmacien": "D", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "", "codeSectionPharmacien": "DM", "codeSecteurDactivite": "SA33"}, None),
        ({"codeRole": "FON-37", "codeSectionPharmacien": "H", "codeSecteurDactivite": "SA01"}, None),
    ],
)
def test_activity_basis(activity, expected):
    assert activity_basis(activity) == expected


def test_a_titulaire_identity():
    claims = psc_userinfo(
        rpps="10001045367",
        first_name="claire",
        last_name="martin",
        activities=[pharmacist_activity(finess="0B0512345", site_name="PHARMACIE DU MARCHE")],
    )
    identity = psc_identity(claims)
    assert identity.rpps == "10001045367" and identity.id_nat_ps == "810001045367"
    assert identity.label == "Claire MARTIN – RPPS 10001045367 (Pro Santé Connect)"
    assert identity.is_pharmacist
    assert [(c.finess, c.basis) for c in identity.candidates] == [("0B0512345", Basis.TITULAIRE)]


def test_co_titulaire_of_two_officines_and_an_adjoint_activity():
    claims = psc_userinfo(
        rpps="10001045367",
        first_name="Claire",
        last_name="Martin",
        activities=[
            pharmacist_activity(finess="750000014"),
            pharmacist_activity(finess="750000022", role="FON-05", section="D"),
            pharmacist_activity(finess="920000018", role="FON-07", section="D"),
        ],
    )
    assert psc_identity(claims).candidate_finess == ("750000014", "920000018")


def test_an_activity_without_finess_is_no_candidate():
    claims = psc_userinfo(
        rpps="10001045367", first_name="A", last_name="B", activities=[pharmacist_activity(finess="")]
    )
    identity = psc_identity(claims)
    assert identity.is_pharmacist and identity.candidates == ()


def test_a_doctor_is_not_a_pharmacist():
    claims = psc_userinfo(
        rpps="10001045367",
        first_name="A",
        last_name="B",
        profession="10",
        activities=[pharmacist_activity(finess="750000014")],
    )
    identity = psc_identity(claims)
    assert not identity.is_pharmacist and identity.candidates == ()


@pytest.mark.parametrize(
    "claims",
    [{}, {"SubjectRefPro": None}, {"SubjectRefPro": {"exercices": "x"}}, {"SubjectRefPro": {"exercices": [None, 3]}}],
)
def test_odd_documents_give_no_candidate_and_no_error(claims):
    identity = psc_identity(claims)
    assert identity.candidates == () and not identity.is_pharmacist


def test_names_fall_back_to_the_standard_claims():
    identity = psc_identity({"SubjectNameID": "810001045367", "given_name": "CLAIRE", "family_name": "MARTIN"})
    assert identity.display_name == "Claire MARTIN"


def test_rpps_from_id_nat_ps():
    assert rpps_from_id_nat_ps("810001045367") == "10001045367"
    assert rpps_from_id_nat_ps("0123456789") == "0123456789"  # ADELI-based ids stay as they are
