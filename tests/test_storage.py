"""Production static storage: WhiteNoise's manifest storage, each URL computed once per process."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from vaccine_orders.storage import StaticFilesStorage


@pytest.fixture
def storage(tmp_path):
    (tmp_path / "staticfiles.json").write_text(
        json.dumps({"paths": {"css/app.css": "css/app.0123456789ab.css"}, "version": "1.1", "hash": "x"}),
        encoding="utf-8",
    )
    with override_settings(DEBUG=False, STATIC_URL="/static/"):
        yield StaticFilesStorage(location=str(tmp_path), base_url="/static/")


def test_the_url_is_the_manifests_and_is_computed_once(storage, monkeypatch):
    computed = []
    parent_url = StaticFilesStorage.__mro__[1].url

    def counting(self, name, force=False):
        computed.append(name)
        return parent_url(self, name, force)

    monkeypatch.setattr(StaticFilesStorage.__mro__[1], "url", counting)
    assert storage.url("css/app.css") == "/static/css/app.0123456789ab.css"
    assert storage.url("css/app.css") == "/static/css/app.0123456789ab.css"
    assert computed == ["css/app.css"]
    storage.url("css/app.css", force=True)  # collectstatic's calls bypass the cache
    assert computed == ["css/app.css", "css/app.css"]


def test_a_file_missing_from_the_manifest_still_fails_every_time(storage):
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            storage.url("js/absent.js")
