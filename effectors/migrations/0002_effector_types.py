"""The effector types of the DGS-Urgent tables (DESIGN.md). Reference data every environment needs."""

from django.db import migrations

# code, label, plural, kind, nominative, RPPS profession, RPPS savoir-faire, FINESS categories, mailing
TYPES = [
    ("pharmacist", "Pharmacien (officine)", "Pharmaciens", "pharmacy", False, "21", [], [], False),
    ("doctor", "Médecin", "Médecins", "professional", True, "10", [], [], True),
    ("occupational_doctor", "Médecin du travail", "Médecins du travail", "professional", True, "10",
     ["SM29", "SM41"], [], True),
    ("midwife", "Sage-femme", "Sages-femmes", "professional", True, "50", [], [], True),
    ("dental_surgeon", "Chirurgien-dentiste", "Chirurgiens-dentistes", "professional", True, "40", [], [], True),
    ("nurse", "Infirmier (IDE)", "Infirmiers (IDE)", "aggregate", False, "60", [], [], False),
    ("msp", "Maison de santé pluriprofessionnelle (MSP)", "MSP", "establishment", True, "", [], ["603"], False),
    ("cds", "Centre de santé (CDS)", "CDS", "establishment", True, "", [], ["124"], False),
    ("lbm", "Laboratoire de biologie médicale (LBM)", "LBM", "establishment", True, "", [], ["611"], False),
    ("fam", "Foyer d'accueil médicalisé (FAM)", "FAM", "establishment", True, "", [], ["437"], False),
    ("mas", "Maison d'accueil spécialisée (MAS)", "MAS", "establishment", True, "", [], ["255"], False),
    ("ehpad", "EHPAD", "EHPAD", "establishment", True, "", [], ["500"], False),
    ("usld", "Unité de soins de longue durée (USLD)", "USLD", "establishment", True, "", [], ["362"], False),
    ("residence_autonomie", "Résidence autonomie", "Résidences autonomie", "establishment", True, "", [],
     ["202"], False),
    ("sst", "Service de santé au travail (SST)", "SST", "establishment", True, "", [], ["609"], False),
    ("ssu", "Service de santé universitaire (SSU)", "SSU", "establishment", True, "", [], ["130"], False),
    ("pmi", "Protection maternelle et infantile (PMI)", "PMI", "establishment", True, "", [], ["347"], False),
]


def create_types(apps, schema_editor):
    EffectorType = apps.get_model("effectors", "EffectorType")
    for order, (code, label, plural, kind, nominative, profession, specialties, categories, mailing) in enumerate(
        TYPES, start=1
    ):
        EffectorType.objects.update_or_create(
            code=code,
            defaults={
                "label": label,
                "label_plural": plural,
                "kind": kind,
                "is_nominative": nominative,
                "rpps_profession_code": profession,
                "rpps_specialty_codes": specialties,
                "finess_categories": categories,
                "receives_mailing": mailing,
                "sort_order": order * 10,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("effectors", "0001_initial")]

    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
