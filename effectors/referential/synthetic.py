"""Lines of the national extractions in their real formats, built from a few values: the sample files of
the repository (effectors/samples/), the tests and the bench's two-million-line RPPS file use them."""

from __future__ import annotations

RPPS_HEADER_NAMES = [
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
    "Code rôle",
    "Libellé rôle",
    "Code genre activité",
    "Libellé genre activité",
]
# The extraction ends every line with "|": one more, empty, column.
RPPS_HEADER = "|".join(RPPS_HEADER_NAMES) + "|"
_RPPS_INDEX = {name: index for index, name in enumerate(RPPS_HEADER_NAMES)}

PROFESSIONS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "40": "Chirurgien-Dentiste",
    "50": "Sage-Femme",
    "60": "Infirmier",
    "70": "Masseur-Kinésithérapeute",
}
SAVOIR_FAIRE = {
    "SM54": "Médecine générale (SM)",
    "SM25": "Médecine du travail (SM)",
    "SM40": "Pédiatrie (SM)",
    "SCD01": "Orthopédie dento-faciale (SCD)",
}


def rpps_line(
    *,
    rpps: str,
    last_name: str,
    first_name: str,
    profession: str,
    id_type: str = "8",
    specialty: str = "",
    postal_code: str = "75011",
    city: str = "PARIS",
    department: str = "75",
    finess_site: str = "",
    section: str = "",
    role: str = "",
    sector: str = "",
    site_name: str = "",
) -> str:
    values = [""] * (len(RPPS_HEADER_NAMES) + 1)

    def put(name: str, value: str) -> None:
        values[_RPPS_INDEX[name]] = value

    put("Type d'identifiant PP", id_type)
    put("Identifiant PP", rpps)
    put("Identification nationale PP", id_type + rpps)
    put("Code civilité d'exercice", "DR" if profession in ("10", "40") else "")
    put("Libellé civilité d'exercice", "Docteur" if profession in ("10", "40") else "")
    put("Nom d'exercice", last_name)
    put("Prénom d'exercice", first_name)
    put("Code profession", profession)
    put("Libellé profession", PROFESSIONS.get(profession, ""))
    put("Code catégorie professionnelle", "C")
    put("Libellé catégorie professionnelle", "Civil")
    if specialty:
        put("Code type savoir-faire", "S")
        put("Libellé type savoir-faire", "Spécialité ordinale")
        put("Code savoir-faire", specialty)
        put("Libellé savoir-faire", SAVOIR_FAIRE.get(specialty, ""))
    put("Code mode exercice", "L")
    put("Libellé mode exercice", "Libéral")
    # The structure where the activity takes place, as filled in the real file (lines of 300+ bytes).
    siren = rpps[1:10]
    put("Numéro SIRET site", siren + "00017")
    put("Numéro SIREN site", siren)
    put("Numéro FINESS site", finess_site)
    put("Identifiant technique de la structure", "R" + rpps[::-1] + "001")
    put("Raison sociale site", site_name or f"CABINET {last_name}")
    put("Enseigne commerciale site", site_name)
    put("Numéro Voie (coord. structure)", str(int(rpps[-3:]) % 120 + 1))
    put("Code type de voie (coord. structure)", "R")
    put("Libellé type de voie (coord. structure)", "Rue")
    put("Libellé Voie (coord. structure)", "DE LA REPUBLIQUE")
    put("Code postal (coord. structure)", postal_code)
    put("Code commune (coord. structure)", department[:2] + "056")
    put("Libellé commune (coord. structure)", city)
    put("Code pays (coord. structure)", "99000")
    put("Libellé pays (coord. structure)", "France")
    put("Téléphone (coord. structure)", "01" + rpps[-8:])
    put("Adresse e-mail (coord. structure)", f"contact.{rpps}@exemple-sante.fr")
    put("Code Département (structure)", department)
    put("Libellé Département (structure)", city.title())
    put("Autorité d'enregistrement", {"10": "CNOM", "21": "CNOP", "40": "CNOCD", "50": "CNOSF"}.get(profession, "ARS"))
    put("Code secteur d'activité", sector)
    put("Libellé secteur d'activité", SECTORS.get(sector, ""))
    put("Code section tableau pharmaciens", section)
    put("Code rôle", role)
    put("Code genre activité", "GENR01")
    put("Libellé genre activité", "Activité standard de soin ou de pharmacien")
    return "|".join(values)


SECTORS = {"SA07": "Pharmacie d'officine", "SA38": "Pharmacie minière", "SA39": "Pharmacie mutualiste"}
FINESS_METADATA = "finess;etalab;111;2026-05-12"


def finess_structure_line(
    *,
    finess: str,
    name: str,
    category: str,
    category_label: str,
    department: str = "75",
    department_label: str = "PARIS",
    routing: str = "75011 PARIS",
    legal_finess: str = "",
    number: str = "12",
    street_type: str = "R",
    street: str = "DE LA ROQUETTE",
    phone: str = "0143000000",
    aggregate: str = "",
    aggregate_label: str = "",
) -> str:
    fields = [
        "structureet",
        finess,
        legal_finess,
        name,
        name,
        "",
        "",
        number,
        street_type,
        street,
        "",
        "",
        "056",
        department,
        department_label,
        routing,
        phone,
        "",
        category,
        category_label,
        aggregate,
        aggregate_label,
        "",
        "",
        "",
        "",
        "",
        "",
        "2001-01-01",
        "2001-01-01",
        "2024-01-15",
        "",
    ]
    return ";".join(_quote(f) for f in fields)


def finess_geolocation_line(*, finess: str, x: str = "652000.5", y: str = "6862000.2") -> str:
    return f"geolocalisation;{finess};{x};{y};1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;2024-01-15"


def _quote(value: str) -> str:
    if ";" in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value
