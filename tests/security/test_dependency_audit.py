"""`make check` audits the locked dependencies (pip-audit on uv.lock's export) and never passes an audit that did not
happen: each outcome of pip-audit is played by a stand-in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit_dependencies.sh"


def run_audit(tmp_path, *, output: str, status: int, offline_ok: bool = False) -> subprocess.CompletedProcess:
    stand_in = tmp_path / "pip-audit"
    stand_in.write_text(f"#!/bin/sh\ncat <<'FIN'\n{output}\nFIN\nexit {status}\n")
    stand_in.chmod(0o755)
    env = {**os.environ, "PIP_AUDIT": str(stand_in), "AUDIT_OFFLINE_OK": "1" if offline_ok else "0"}
    return subprocess.run([str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_make_check_runs_the_audit():
    makefile = (ROOT / "Makefile").read_text()
    check = makefile.split("\ncheck:", 1)[1].split("\n\n", 1)[0]
    assert "./scripts/audit_dependencies.sh" in check


def test_a_clean_audit_passes(tmp_path):
    result = run_audit(tmp_path, output="No known vulnerabilities found", status=0)
    assert result.returncode == 0, result.stderr
    assert "aucune vulnérabilité connue" in result.stdout


@pytest.mark.parametrize("offline_ok", [False, True])
def test_known_vulnerabilities_always_fail(tmp_path, offline_ok):
    result = run_audit(
        tmp_path,
        output="Found 1 known vulnerability in 1 package\nName   Version ID\ndjango 5.2.19  PYSEC-2099-1",
        status=1,
        offline_ok=offline_ok,
    )
    assert result.returncode == 1
    assert "PYSEC-2099-1" in result.stdout
    assert "vulnérabilités connues" in result.stderr


def test_an_unreachable_database_fails_loudly_unless_declared_offline(tmp_path):
    output = "ERROR:pip_audit._cli:django: Dependency not found on PyPI and could not be audited: django (5.2.19)"
    refused = run_audit(tmp_path, output=output, status=1)
    assert refused.returncode == 1
    assert "n'ont PAS été audités" in refused.stderr and "AUDIT_OFFLINE_OK=1" in refused.stderr

    allowed = run_audit(tmp_path, output=output, status=1, offline_ok=True)
    assert allowed.returncode == 0
    assert "ATTENTION" in allowed.stderr and "sans audit" in allowed.stderr


def test_the_audit_reads_exactly_the_lock_file(tmp_path):
    run_audit(tmp_path, output="No known vulnerabilities found", status=0)
    exported = (ROOT / "var" / "requirements-audit.txt").read_text()
    import django

    assert f"django=={django.get_version()}" in exported.splitlines()  # the locked version, as installed
    assert "pip-audit==" in exported  # the dev group too
