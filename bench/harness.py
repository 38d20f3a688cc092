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


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds_by_process() -> dict[int, tuple[str, int, float]]:
    """pid → (command name, process group, user + system CPU seconds), for every process /proc shows."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read().decode("utf-8", "replace")
        except OSError:  # the process ended meanwhile
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # After the name: state, ppid, pgrp, …; utime and stime are fields 14 and 15 of stat(5).
        found[int(entry)] = (name, int(fields[2]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return found


class CpuMeter:
    """CPU time spent during a phase by the server under test, PostgreSQL, Redis and the load generator (this
    process), read from /proc. The load generator shares the machine's cores with the server: its share says
    how much of the machine the measurement itself took. A process that ends during the phase (none is
    expected but a PostgreSQL backend closed by CONN_MAX_AGE) is not counted; one started during it counts whole."""

    def __init__(self, server_group: int) -> None:
        self.server_group = server_group

    def _component(self, pid: int, name: str, group: int) -> str:
        if group == self.server_group:
            return "server"
        if name == "postgres":
            return "postgresql"
        if name.startswith("redis-server"):
            return "redis"
        return "other"

    def __enter__(self) -> CpuMeter:
        self._start = _cpu_seconds_by_process()
        self._own_start = os.times()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_seconds_by_process()
        own = os.times()
        self.wall_seconds = time.perf_counter() - self._wall
        self.seconds = {"server": 0.0, "postgresql": 0.0, "redis": 0.0, "other": 0.0}
        for pid, (name, group, seconds) in end.items():
            if pid == os.getpid():
                continue
            before = self._start.get(pid)
            # A pid seen at both ends is the same process unless its name changed (reuse is rare in a minute).
            spent = seconds - before[2] if before and before[0] == name else seconds
            self.seconds[self._component(pid, name, group)] += max(0.0, spent)
        self.seconds["load generator"] = (own.user + own.system) - (self._own_start.user + self._own_start.system)

    def per_request_ms(self, requests: int) -> dict[str, float]:
        return {name: 1000 * seconds / requests for name, seconds in self.seconds.items()}


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
