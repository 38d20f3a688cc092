"""Correct the referential codes of migration 0002 after checking them against the ANS nomenclatures.

RPPS savoir-faire (TRE_R38 "Spécialité ordinale"): médecine du travail is SM25. The guess SM29/SM41 was
"Médecine physique et de réadaptation" and "Pneumologie".

FINESS establishment categories (TRE_R66 "Catégorie d'établissement", the `categetab` column):
- PMI is 223 "Protection Maternelle et Infantile (P.M.I.)" (347 is "Centre d'examens de santé");
- SST is 616 "Services de Prévention et de Santé au Travail (SPST)" (609 is the MDPH);
- SSU is 269 "Centre de Médecine Universitaire" (130 is "Centre de Soins Médicaux");
- FAM is 437 "Foyer d'Accueil Médicalisé pour Adultes Handicapés (F.A.M.)", plus 448 "Etab. Acc. Médicalisé en
  tout ou partie personnes handicapées" (EAM), the category FAMs are moved to since the 2020 reform of the
  disability nomenclature.
MSP 603, CDS 124, LBM 611, MAS 255, EHPAD 500, USLD 362 and résidence autonomie 202 were right.

Also: the staging tables are rebuilt from the file on every import, so on PostgreSQL they skip the WAL.
"""

from django.db import migrations

SPECIALTIES = {"occupational_doctor": (["SM29", "SM41"], ["SM25"])}
CATEGORIES = {
    "pmi": (["347"], ["223"]),
    "sst": (["609"], ["616"]),
    "ssu": (["130"], ["269"]),
    "fam": (["437"], ["437", "448"]),
}


def _apply(apps, which: int) -> None:
    EffectorType = apps.get_model("effectors", "EffectorType")
    for code, values in SPECIALTIES.items():
        EffectorType.objects.filter(code=code).update(rpps_specialty_codes=values[which])
    for code, values in CATEGORIES.items():
        EffectorType.objects.filter(code=code).update(finess_categories=values[which])


def forwards(apps, schema_editor):
    _apply(apps, 1)


def backwards(apps, schema_editor):
    _apply(apps, 0)


def staging_unlogged(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ("effectors_rppsstagingrow", "effectors_finessstagingrow"):
        schema_editor.execute(f"ALTER TABLE {table} SET UNLOGGED")


def staging_logged(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ("effectors_rppsstagingrow", "effectors_finessstagingrow"):
        schema_editor.execute(f"ALTER TABLE {table} SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("effectors", "0003_referential_imports_and_transfers")]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RunPython(staging_unlogged, staging_logged),
    ]
