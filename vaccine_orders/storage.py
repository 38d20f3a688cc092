"""Static files in production: WhiteNoise's compressed manifest storage, each file's URL computed once per process.

Every page asks for a dozen static URLs (the DSFR's styles, scripts and icons, the service's own), and each one went
through the manifest lookup, URL splitting, joining and unquoting again: a twelfth of the instructions of a refused
"Valider" that shows the grid again (counted with a deterministic profile of one request). The answer for a name only
changes with the manifest, which is read once when the process starts.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name: str, force: bool = False) -> str:
        if force:  # collectstatic's own calls: never from the cache
            return super().url(name, force=True)
        url = self._urls.get(name)
        if url is None:
            url = self._urls[name] = super().url(name)
        return url
