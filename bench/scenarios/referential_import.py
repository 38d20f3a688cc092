"""Bench "import": the RPPS extraction at national size.

A synthetic "PS_LibreAcces_Personne_activite" file of 2,000,000 lines in the real format (57 pipe-separated
columns, header, trailing "|"; people with one to three activity lines; doctors, nurses, pharmacists,
dentists, midwives and out-of-scope professions; a few ADELI identifiers) is generated once into var/bench/.
A synthetic FINESS file gives the officines the pharmacists' lines point at.

Measured, in a database of its own (the import deactivates what the file does not contain, which must not
touch the other scenarios' data):
- a bare PostgreSQL COPY of the same file into an unlogged table of 57 text columns (the floor);
- `manage.py import_referential rpps` on an empty referential (everything created), then again on the same
  file (everything unchanged: the idempotent re-run), each in its own process: wall time including Django's
  start-up, lines per second, peak memory of the importing process, and the ratio to the bare COPY.

Targets (the issue): ≥ 20,000 lines/s and a peak memory under 300 MB on the 2-core box.
`--quick`: 50,000 lines.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import psycopg

from bench.harness import RESULTS, ROOT, BenchContext, Figure

SCENARIO = "import"
FULL_LINES = 2_000_000
QUICK_LINES = 50_000
TARGET_RATE = 20_000
TARGET_MEMORY_MB = 300
GENERATOR_VERSION = 3
# National orders of magnitude of the FINESS extraction: ~21,000 officines, ~30,000 establishments of the
# effector categories, ~50,000 others (hospitals, social services…), a geolocation line for each.
PHARMACIES = 21_000
ESTABLISHMENTS = 30_000
OTHER_STRUCTURES = 50_000
ESTABLISHMENT_CATEGORIES = [
    ("500", "Etablissement d'hébergement pour personnes âgées dépendantes"),
    ("603", "Maison de santé (L.6223-3)"),
    ("124", "Centre de Santé"),
    ("611", "Laboratoire de Biologie Médicale"),
    ("223", "Protection Maternelle et Infantile (P.M.I.)"),
    ("202", "Résidences autonomie"),
    ("437", "Foyer d'Accueil Médicalisé pour Adultes Handicapés (F.A.M.)"),
    ("255", "Maison d'Accueil Spécialisée (M.A.S.)"),
]

CITIES = [
    ("75011", "PARIS", "75"),
    ("69003", "LYON", "69"),
    ("13001", "MARSEILLE", "13"),
    ("31000", "TOULOUSE", "31"),
    ("06000", "NICE", "06"),
    ("44000", "NANTES", "44"),
    ("67000", "STRASBOURG", "67"),
    ("34000", "MONTPELLIER", "34"),
    ("33000", "BORDEAUX", "33"),
    ("59000", "LILLE", "59"),
    ("35000", "RENNES", "35"),
    ("51100", "REIMS", "51"),
    ("20000", "AJACCIO", "2A"),
    ("97400", "ST DENIS", "974"),
]
LAST_NAMES = [
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
    "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
]  # fmt: skip
FIRST_NAMES = ["Jean", "Marie", "Pierre", "Hélène", "Luc", "Claire", "Paul", "Sophie", "Éric", "Anne", "Zoé"]
# Profession mix of the real file (approximately): nurses and doctors dominate, a quarter is out of scope.
PROFESSIONS = [("10", 30), ("60", 33), ("21", 5), ("40", 3), ("50", 2), ("70", 12), ("91", 6), ("80", 4), ("26", 5)]


def _database_url(ctx: BenchContext) -> str:
    base, name = ctx.database_url.rsplit("/", 1)
    return f"{base}/{name}_import"


def _pharmacy_finess(index: int) -> str:
    from vaccine_orders.identifiers import make_finess

    return make_finess(f"75{8_000_000 + index:06d}"[-8:])


def generate_finess(path: Path) -> int:
    """Returns the number of lines."""
    from effectors.referential.synthetic import FINESS_METADATA, finess_geolocation_line, finess_structure_line
    from vaccine_orders.identifiers import make_finess

    lines = [FINESS_METADATA]
    for index in range(PHARMACIES):
        finess = _pharmacy_finess(index)
        lines.append(
            finess_structure_line(
                finess=finess, name=f"PHARMACIE DE BENCH {index}", category="620", category_label="Pharmacie d'Officine"
            )
        )
        lines.append(finess_geolocation_line(finess=finess))
    for index in range(ESTABLISHMENTS + OTHER_STRUCTURES):
        finess = make_finess(f"69{index:06d}")
        category, label = (
            ESTABLISHMENT_CATEGORIES[index % len(ESTABLISHMENT_CATEGORIES)]
            if index < ESTABLISHMENTS
            else ("355", "Centre Hospitalier (C.H.)")
        )
        lines.append(
            finess_structure_line(
                finess=finess,
                name=f"STRUCTURE DE BENCH {index}",
                category=category,
                category_label=label,
                department="69",
                department_label="RHONE",
                routing="69003 LYON",
            )
        )
        lines.append(finess_geolocation_line(finess=finess))
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return len(lines) - 1


def generate_rpps(path: Path, lines: int) -> None:
    """The same file for the same size, every time (seeded); written once and reused."""
    from effectors.referential.synthetic import RPPS_HEADER, rpps_line
    from vaccine_orders.identifiers import make_rpps

    rng = random.Random(20220307)
    professions = [code for code, weight in PROFESSIONS for _ in range(weight)]
    tmp = path.with_suffix(".tmp")
    written = 0
    person = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        out.write(RPPS_HEADER + "\n")
        while written < lines:
            person += 1
            profession = rng.choice(professions)
            rpps = make_rpps(f"19{person:08d}")
            last_name = rng.choice(LAST_NAMES)
            first_name = rng.choice(FIRST_NAMES)
            activities = min(rng.choice((1, 1, 1, 2, 2, 3)), lines - written)
            for activity in range(activities):
                postal_code, city, department = rng.choice(CITIES)
                extra: dict[str, str] = {}
                if profession == "10":
                    extra["specialty"] = "SM25" if person % 40 == 0 and activity == 1 else "SM54"
                elif profession == "21":
                    role = rng.random()
                    extra["finess_site"] = _pharmacy_finess(rng.randrange(PHARMACIES * 2))  # half unknown
                    extra["sector"] = "SA07"
                    if role < 0.4:
                        extra.update(section="A", role="FON-03")
                    elif role < 0.42:
                        extra.update(section="D", role="FON-07")
                    else:
                        extra.update(section="D", role="FON-05")
                out.write(
                    rpps_line(
                        rpps=rpps,
                        last_name=last_name,
                        first_name=first_name,
                        profession=profession,
                        id_type="0" if person % 97 == 0 else "8",
                        postal_code=postal_code,
                        city=city,
                        department=department,
                        **extra,
                    )
                    + "\n"
                )
                written += 1
    tmp.replace(path)


def bare_copy(database_url: str, path: Path, columns: int) -> float:
    """Seconds for PostgreSQL to COPY the file as it is, no parsing in Python: the floor of any import."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_rpps_raw")
        conn.execute("CREATE UNLOGGED TABLE bench_rpps_raw (" + ", ".join(f"c{i} text" for i in range(columns)) + ")")
        started = time.perf_counter()
        # CSV with a quote character that never occurs: every byte is data, as in the extraction.
        statement = "COPY bench_rpps_raw FROM STDIN WITH (FORMAT csv, DELIMITER '|', HEADER true, QUOTE E'\\x01')"
        with conn.cursor() as cursor, path.open("rb") as source, cursor.copy(statement) as copy:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_rpps_raw")
    return seconds


def import_file(ctx: BenchContext, database_url: str, kind: str, path: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "manage.py"), "import_referential", kind, str(path), "--json"],
        env=ctx.django_env(DATABASE_URL=database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"import {kind} failed:\n{completed.stdout}\n{completed.stderr}")
    return seconds, json.loads(completed.stdout.strip().splitlines()[-1])


def run(ctx: BenchContext) -> list[Figure]:
    from bench.__main__ import ensure_database

    lines = QUICK_LINES if ctx.quick else FULL_LINES
    RESULTS.mkdir(parents=True, exist_ok=True)
    rpps_path = RESULTS / f"PS_LibreAcces_Personne_activite_synthetic_{lines}_v{GENERATOR_VERSION}.txt"
    finess_path = RESULTS / f"etalab_cs1100507_synthetic_v{GENERATOR_VERSION}.csv"
    if not rpps_path.exists():
        print(f"  génération de {rpps_path.name} ({lines:,} lignes)…", flush=True)
        generate_rpps(rpps_path, lines)
    if not finess_path.exists():
        generate_finess(finess_path)
    finess_lines = sum(1 for _ in finess_path.open("rb")) - 1

    database_url = _database_url(ctx)
    ensure_database(database_url)
    ctx.manage("migrate", "--noinput", "-v0", DATABASE_URL=database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # An empty referential, so that the first run measures the creation of everything.
        conn.execute(
            "TRUNCATE effectors_professional, accounts_pharmacistauthority, audit_auditevent, "
            "effectors_referentialimport, effectors_establishment, accounts_pharmacy CASCADE"
        )
    finess_seconds, finess_report = import_file(ctx, database_url, "finess", finess_path)

    from effectors.referential.synthetic import RPPS_HEADER

    copy_seconds = bare_copy(database_url, rpps_path, RPPS_HEADER.count("|") + 1)
    first_seconds, first = import_file(ctx, database_url, "rpps", rpps_path)
    second_seconds, second = import_file(ctx, database_url, "rpps", rpps_path)

    figures = [
        Figure(SCENARIO, "COPY PostgreSQL nu du même fichier RPPS : débit", lines / copy_seconds, "lignes/s",
               note=f"{copy_seconds:.1f} s"),
        Figure(SCENARIO, f"FINESS {finess_lines:_} lignes (officines créées) : débit".replace("_", " "),
               finess_lines / finess_seconds, "lignes/s", note=f"{finess_seconds:.1f} s, démarrage compris"),
        Figure(SCENARIO, "FINESS : mémoire maximale", float(finess_report["details"]["mémoire maximale (Mo)"]), "Mo",
               f"< {TARGET_MEMORY_MB}", float(finess_report["details"]["mémoire maximale (Mo)"]) < TARGET_MEMORY_MB),
    ]  # fmt: skip
    for label, seconds, report in (
        ("1er import", first_seconds, first),
        ("2e import (identique)", second_seconds, second),
    ):
        rate = lines / seconds
        memory = float(report["details"]["mémoire maximale (Mo)"])
        # With --quick, Django's start-up dominates a 50,000-line file: the rate is shown, not judged.
        rate_ok = None if ctx.quick else rate >= TARGET_RATE
        figures += [
            Figure(SCENARIO, f"RPPS {lines:_} lignes, {label} : débit".replace("_", " "), rate, "lignes/s",
                   f"≥ {TARGET_RATE:,}".replace(",", " "), rate_ok,
                   f"{seconds:.1f} s, démarrage de Django compris"),
            Figure(SCENARIO, f"RPPS, {label} : mémoire maximale", memory, "Mo", f"< {TARGET_MEMORY_MB}",
                   memory < TARGET_MEMORY_MB),
            Figure(SCENARIO, f"RPPS, {label} : temps / COPY nu", seconds / copy_seconds, "×"),
        ]  # fmt: skip
    figures += [
        Figure(SCENARIO, "1er import : professionnels créés", first["created"], "lignes"),
        Figure(SCENARIO, "1er import : habilitations créées", first["details"]["habilitations"]["créées"], "lignes"),
        Figure(SCENARIO, "2e import : professionnels modifiés (0 attendu)", second["updated"] + second["created"],
               "lignes", "0", second["updated"] + second["created"] == 0),
        Figure(SCENARIO, "2e import : professionnels inchangés", second["unchanged"], "lignes"),
    ]  # fmt: skip
    for label, report in (("FINESS", finess_report), ("RPPS, 1er import", first), ("RPPS, 2e import", second)):
        for step, seconds in report["details"].get("étapes (s)", {}).items():
            figures.append(Figure(SCENARIO, f"{label} : étape « {step} »", float(seconds), "s"))
    return figures
