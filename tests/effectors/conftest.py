"""Helpers of the effectors tests: the sample extractions and a one-call import."""

from __future__ import annotations

from pathlib import Path

import pytest

from effectors.models import ReferentialImport
from effectors.referential.runner import referential_import_create, referential_import_run
from vaccine_orders.audit.actors import Actor

SAMPLES = Path(__file__).resolve().parents[2] / "effectors" / "samples"
RPPS_SAMPLE = SAMPLES / "PS_LibreAcces_Personne_activite_sample.txt"
FINESS_SAMPLE = SAMPLES / "etalab_cs1100507_stock_sample.csv"
ATTACHMENTS_SAMPLE = SAMPLES / "rattachements_ancien_portail_sample.csv"


def run_import(kind: str, path: Path, **options) -> ReferentialImport:
    run = referential_import_create(kind=kind, actor=Actor.system("test"), source_name=path.name)
    return referential_import_run(import_id=run.pk, path=path, **options)


@pytest.fixture
def import_file(db):
    return run_import


@pytest.fixture
def referential(db):
    """The sample FINESS then RPPS extractions, imported (officines first: authorities need them)."""
    finess = run_import(ReferentialImport.Kind.FINESS, FINESS_SAMPLE)
    rpps = run_import(ReferentialImport.Kind.RPPS, RPPS_SAMPLE)
    assert finess.status == rpps.status == ReferentialImport.Status.SUCCEEDED, (
        finess.error_message,
        rpps.error_message,
    )
    return finess, rpps
