"""`make bench`: run the performance scenarios and print their figures.

    .venv/bin/python -m bench                 # every scenario
    .venv/bin/python -m bench ordering        # one scenario
    .venv/bin/python -m bench --quick         # smaller sizes, for a smoke run

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/cv_bench, created if
missing) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

from .harness import BenchContext, Figure, write_report
from .scenarios import SCENARIOS


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    base = url.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", base, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", base, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("scenarios", nargs="*", help=f"among: {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = parser.parse_args()
    names = args.scenarios or list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    ctx = BenchContext(
        database_url=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cv_bench"),
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        quick=args.quick,
    )
    ensure_database(ctx.database_url)
    ctx.manage("migrate", "--noinput", "-v0")

    figures: list[Figure] = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(SCENARIOS[name])
        for figure in module.run(ctx):
            figures.append(figure)
            verdict = "" if figure.ok is None else (" ✔" if figure.ok else " ✘")
            target = f"  (cible : {figure.target})" if figure.target else ""
            print(f"{figure.name:<58} {figure.value:>12,.2f} {figure.unit:<10}{target}{verdict}", flush=True)
    path = write_report(figures)
    print(f"\nRésultats : {path}")
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
