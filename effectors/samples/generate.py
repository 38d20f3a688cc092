"""Rebuild the sample extractions of this folder (python -m effectors.samples.generate).

They are small files in the real formats, with a few malformed lines on purpose; the tests assert what
importing them does (tests/effectors/test_referential_*.py), so change them together.
"""

from __future__ import annotations

from pathlib import Path

from effectors.referential.synthetic import (
    FINESS_METADATA,
    RPPS_HEADER,
    finess_geolocation_line,
    finess_structure_line,
    rpps_line,
)
from vaccine_orders.identifiers import make_finess, make_rpps

HERE = Path(__file__).resolve().parent

# Officines (category 620).
P_PARIS = make_finess("75090001")
P_LYON = make_finess("69090002")
P_MARSEILLE = make_finess("13090003")
P_REUNION = make_finess("97490004")
P_AJACCIO = make_finess("2A090005")


def rpps(n: int) -> str:
    return make_rpps(f"10100000{n:02d}")


def build_finess() -> bytes:
    structure = finess_structure_line
    lines = [
        FINESS_METADATA,
        structure(
            finess=P_PARIS,
            name="PHARMACIE DE LA BASTILLE",
            category="620",
            category_label="Pharmacie d'Officine",
            legal_finess=make_finess("75090100"),
            aggregate="3301",
            aggregate_label="Pharmacies d'Officine",
        ),
        finess_geolocation_line(finess=P_PARIS),
        structure(
            finess=P_LYON,
            name="PHARMACIE DES TERREAUX",
            category="620",
            category_label="Pharmacie d'Officine",
            department="69",
            department_label="RHONE",
            routing="69001 LYON",
            street_type="PL",
            street="DES TERREAUX",
            number="3",
        ),
        structure(
            finess=P_MARSEILLE,
            name="PHARMACIE MUTUALISTE DU VIEUX-PORT",
            category="620",
            category_label="Pharmacie d'Officine",
            department="13",
            department_label="BOUCHES-DU-RHONE",
            routing="13002 MARSEILLE",
            street_type="QUA",
            street="DU PORT",
            number="40",
        ),
        structure(
            finess=P_REUNION,
            name="PHARMACIE DU BARACHOIS",
            category="620",
            category_label="Pharmacie d'Officine",
            department="9D",
            department_label="LA REUNION",
            routing="97400 ST DENIS",
            street_type="R",
            street="DE PARIS",
            number="8",
        ),
        structure(
            finess=P_AJACCIO,
            name="PHARMACIE DU COURS NAPOLEON",
            category="620",
            category_label="Pharmacie d'Officine",
            department="2A",
            department_label="CORSE DU SUD",
            routing="20000 AJACCIO",
            street_type="CRS",
            street="NAPOLEON",
            number="15",
        ),
        finess_geolocation_line(finess=P_AJACCIO, x="1177000.0", y="6103000.0"),
        # Establishments that order through an officine, one per effector type.
        structure(
            finess=make_finess("75190010"),
            name="EHPAD LES GLYCINES",
            category="500",
            category_label="Etablissement d'hébergement pour personnes âgées dépendantes",
            routing="75012 PARIS",
        ),
        structure(
            finess=make_finess("69190011"),
            name="MAISON DE SANTE DE LA CROIX-ROUSSE",
            category="603",
            category_label="Maison de santé (L.6223-3)",
            department="69",
            department_label="RHONE",
            routing="69004 LYON",
        ),
        structure(
            finess=make_finess("13190012"),
            name="CENTRE DE PMI BELSUNCE",
            category="223",
            category_label="Protection Maternelle et Infantile (P.M.I.)",
            department="13",
            department_label="BOUCHES-DU-RHONE",
            routing="13001 MARSEILLE",
        ),
        structure(
            finess=make_finess("75190013"),
            name="SERVICE DE SANTE UNIVERSITAIRE SORBONNE",
            category="269",
            category_label="Centre de Médecine Universitaire",
            routing="75005 PARIS",
        ),
        structure(
            finess=make_finess("75190014"),
            name="SPST PARIS EST",
            category="616",
            category_label="Services de Prévention et de Santé au Travail (SPST)",
            routing="75010 PARIS",
        ),
        structure(
            finess=make_finess("75190015"),
            name="LABORATOIRE BIOLOGIE BASTILLE",
            category="611",
            category_label="Laboratoire de Biologie Médicale",
            routing="75011 PARIS",
        ),
        structure(
            finess=make_finess("75190016"),
            name="CENTRE DE SANTE DE BELLEVILLE",
            category="124",
            category_label="Centre de Santé",
            routing="75020 PARIS",
        ),
        structure(
            finess=make_finess("69190017"),
            name="FOYER D'ACCUEIL MEDICALISE LES ALIZES",
            category="437",
            category_label="Foyer d'Accueil Médicalisé pour Adultes Handicapés (F.A.M.)",
            department="69",
            department_label="RHONE",
            routing="69100 VILLEURBANNE",
        ),
        structure(
            finess=make_finess("69190018"),
            name="MAISON D'ACCUEIL SPECIALISEE LE PRE",
            category="255",
            category_label="Maison d'Accueil Spécialisée (M.A.S.)",
            department="69",
            department_label="RHONE",
            routing="69500 BRON",
        ),
        structure(
            finess=make_finess("13190019"),
            name="USLD DE LA TIMONE",
            category="362",
            category_label="Etablissement de Soins Longue Durée",
            department="13",
            department_label="BOUCHES-DU-RHONE",
            routing="13005 MARSEILLE",
        ),
        structure(
            finess=make_finess("75190020"),
            name="RESIDENCE AUTONOMIE LES LILAS",
            category="202",
            category_label="Résidences autonomie",
            routing="75019 PARIS",
        ),
        structure(
            finess=make_finess("75190021"),
            name="EAM LE PARC",
            category="448",
            category_label="Etab.Acc.Médicalisé en tout ou partie personnes handicapées",
            routing="75013 PARIS",
        ),
        # Out of scope: a hospital.
        structure(
            finess=make_finess("75190022"),
            name="HOPITAL SAINT-ANTOINE",
            category="101",
            category_label="Centre Hospitalier Régional (C.H.R.)",
            routing="75012 PARIS",
        ),
        finess_geolocation_line(finess=make_finess("75190022")),
        # Malformed lines, rejected with their number.
        structure(
            finess=make_finess("75190023")[:8] + "0"
            if make_finess("75190023")[-1] != "0"
            else make_finess("75190023")[:8] + "1",
            name="EHPAD A LA CLE FAUSSE",
            category="500",
            category_label="EHPAD",
        ),
        ";".join(["structureet", make_finess("75190024"), "", "EHPAD TRONQUE", "", "", "", "1"]),
        "structurexx;" + make_finess("75190025") + ";INCONNU",
        structure(
            finess=make_finess("97590026"),
            name="PHARMACIE DE SAINT-PIERRE",
            category="620",
            category_label="Pharmacie d'Officine",
            department="9E",
            department_label="SAINT PIERRE ET MIQUELON",
            routing="97500 ST PIERRE",
        ),
    ]
    return ("\n".join(lines) + "\n").encode("latin-1")


def build_rpps() -> bytes:
    lines = [RPPS_HEADER]
    add = lines.append
    # A general practitioner with two activity lines.
    add(rpps_line(rpps=rpps(1), last_name="DUPONT", first_name="Jean", profession="10", specialty="SM54"))
    add(
        rpps_line(
            rpps=rpps(1),
            last_name="DUPONT",
            first_name="Jean",
            profession="10",
            specialty="SM54",
            postal_code="75012",
            city="PARIS",
        )
    )
    # An occupational doctor: the SM25 line wins over the first one.
    add(
        rpps_line(
            rpps=rpps(2),
            last_name="LEFÈVRE",
            first_name="Hélène",
            profession="10",
            specialty="SM54",
            postal_code="69003",
            city="LYON",
            department="69",
        )
    )
    add(
        rpps_line(
            rpps=rpps(2),
            last_name="LEFÈVRE",
            first_name="Hélène",
            profession="10",
            specialty="SM25",
            postal_code="69003",
            city="LYON",
            department="69",
        )
    )
    add(
        rpps_line(
            rpps=rpps(3),
            last_name="MARTIN",
            first_name="Claire",
            profession="50",
            postal_code="69001",
            city="LYON",
            department="69",
        )
    )
    add(
        rpps_line(
            rpps=rpps(4),
            last_name="BERNARD",
            first_name="Luc",
            profession="40",
            specialty="SCD01",
            postal_code="13001",
            city="MARSEILLE",
            department="13",
        )
    )
    add(rpps_line(rpps=rpps(5), last_name="PETIT", first_name="Sophie", profession="60"))
    # Pharmacists: titulaires, an adjoint, a gérant after death, a mutualist gérant, one of an unknown officine.
    add(
        rpps_line(
            rpps=rpps(6),
            last_name="ROUX",
            first_name="Anne",
            profession="21",
            finess_site=P_PARIS,
            section="A",
            role="FON-03",
            sector="SA07",
            site_name="PHARMACIE DE LA BASTILLE",
        )
    )
    add(
        rpps_line(
            rpps=rpps(7),
            last_name="FAURE",
            first_name="Paul",
            profession="21",
            finess_site=P_PARIS,
            section="D",
            role="FON-05",
            sector="SA07",
        )
    )
    add(
        rpps_line(
            rpps=rpps(8),
            last_name="GIRARD",
            first_name="Marc",
            profession="21",
            finess_site=P_LYON,
            section="D",
            role="FON-07",
            sector="SA07",
            postal_code="69001",
            city="LYON",
            department="69",
        )
    )
    add(
        rpps_line(
            rpps=rpps(9),
            last_name="MOREL",
            first_name="Julie",
            profession="21",
            finess_site=P_MARSEILLE,
            section="DM",
            role="FON-23",
            sector="SA39",
            postal_code="13002",
            city="MARSEILLE",
            department="13",
        )
    )
    add(
        rpps_line(
            rpps=rpps(10),
            last_name="LAMBERT",
            first_name="Eric",
            profession="21",
            finess_site=make_finess("75099999"),
            section="A",
            role="FON-03",
            sector="SA07",
        )
    )
    add(
        rpps_line(
            rpps=rpps(11),
            last_name="ROUX",
            first_name="Pierre",
            profession="21",
            finess_site=P_PARIS,
            section="A",
            role="FON-03",
            sector="SA07",
        )
    )
    # Out of scope: a physiotherapist, an ADELI identifier.
    add(rpps_line(rpps=rpps(12), last_name="BLANC", first_name="Yves", profession="70"))
    add(rpps_line(rpps="751234567", last_name="NOIR", first_name="Lise", profession="60", id_type="0"))
    # Malformed: a line cut short, a wrong check key, no name.
    add("|".join(rpps_line(rpps=rpps(13), last_name="COURT", first_name="Léa", profession="10").split("|")[:20]))
    wrong_key = rpps(14)[:10] + str((int(rpps(14)[10]) + 1) % 10)
    add(rpps_line(rpps=wrong_key, last_name="CLEF", first_name="Max", profession="10"))
    add(rpps_line(rpps=rpps(15), last_name="", first_name="Sans", profession="10"))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    # A line written in Latin-1 in the middle of a UTF-8 file: rejected as badly encoded, the rest goes in.
    latin1 = rpps_line(rpps=rpps(16), last_name="GÉRARD", first_name="Zoé", profession="50").encode("latin-1")
    return data + latin1 + b"\n"


def build_attachments() -> str:
    return (
        "\n".join(
            [
                "finess_officine;identifiant;date_rattachement",
                f"{P_PARIS};{rpps(1)};15/03/2021",
                f"{P_PARIS};{make_finess('75190010')};2021-04-02",
                f"{P_LYON};{rpps(2)};",
                f"{P_LYON};{rpps(3)};01/02/2022",
                f"{P_LYON};{rpps(1)};",
                f"{make_finess('75099999')};{rpps(4)};",
                f"{P_MARSEILLE};{rpps(5)};",
                f"{P_MARSEILLE};10100099999;",
            ]
        )
        + "\n"
    )


def main() -> None:
    (HERE / "PS_LibreAcces_Personne_activite_sample.txt").write_bytes(build_rpps())
    (HERE / "etalab_cs1100507_stock_sample.csv").write_bytes(build_finess())
    (HERE / "rattachements_ancien_portail_sample.csv").write_text(build_attachments(), encoding="utf-8")


if __name__ == "__main__":
    main()
