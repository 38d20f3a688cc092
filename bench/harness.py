"""Shared plumbing for `make bench`: a dedicated PostgreSQL database, figures, and the report.

Benchmarks measure; tests assert behaviour. Nothing here is run by `make test`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"


@dataclass
class Figure:
    scenario: str
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""


@dataclass
class BenchContext:
    database_url: str
    redis_url: str
    quick: bool
    env: dict[str, str] = field(default_factory=dict)

    def django_env(self, **extra: str) -> dict[str, str]:
        """Environment for a child process (gunicorn, a worker) running the project against the bench DB."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            # Shared by the bench process and the servers it starts: sessions built here are valid there.
            "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
            **self.env,
            **extra,
        }

    def setup_django(self) -> None:
        """Configure Django in the bench process itself, on the bench database (for building datasets)."""
        import django
        from django.conf import settings

        if settings.configured:
            return
        os.environ.update(self.django_env())
        django.setup()

    def manage(self, *args: str, **extra: str) -> None:
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), str(ROOT / "manage.py"), *args],
            env=self.django_env(**extra),
            check=True,
            cwd=ROOT,
        )


def peak_rss_mb_of_children() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def write_report(figures: list[Figure]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    path.write_text(json.dumps([asdict(f) for f in figures], indent=2, ensure_ascii=False), encoding="utf-8")
    return path
