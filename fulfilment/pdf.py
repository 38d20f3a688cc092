"""Rendering the PDF summary of an order with WeasyPrint: tagged PDF/UA, Marianne embedded.

One renderer per process, built on first use (after the Celery pool has forked): the stylesheet and
its fonts are parsed once and reused, which saves a fifth of the time of each document. WeasyPrint may
only read what `StaticFilesURLFetcher` serves: files that Django's static finders know, through the
`static:` scheme. No network, no arbitrary local path.
"""

from __future__ import annotations

import gc
import mimetypes
import os
import threading
from datetime import datetime
from pathlib import PurePosixPath

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .selectors import OrderFollowUp

PDF_VARIANT = "pdf/ua-1"
STYLESHEET_URL = "static:fulfilment/pdf/summary.css"
UA_STYLESHEET_URL = "static:fulfilment/pdf/ua.css"


class StaticFilesURLFetcher(URLFetcher):
    """Serves `static:<path>` from the static finders and refuses everything else (WeasyPrint's security
    advice: never let a document make the renderer fetch arbitrary URLs or files)."""

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if not url.startswith("static:"):
            raise ValueError(f"URL refusée par le générateur de PDF : {url}")
        path = url.removeprefix("static:").split("?", 1)[0].split("#", 1)[0]
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or ".." in parts:
            raise ValueError(f"Chemin refusé par le générateur de PDF : {url}")
        absolute = finders.find(path)
        if not absolute:
            raise ValueError(f"Fichier statique introuvable : {path}")
        with open(absolute, "rb") as handle:
            body = handle.read()
        mime_type = mimetypes.guess_type(absolute)[0] or "application/octet-stream"
        if absolute.endswith(".woff2"):
            mime_type = "font/woff2"
        return URLFetcherResponse(url, body, {"Content-Type": mime_type})


class _SummaryHTML(HTML):
    """WeasyPrint's HTML with our small user-agent stylesheet (fulfilment/pdf/ua.css) instead of its full
    HTML5 one. `_ua_stylesheets` is WeasyPrint's own hook for this (pinned version; a test checks it)."""

    ua_stylesheet: CSS

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [self.ua_stylesheet]


class SummaryRenderer:
    def __init__(self) -> None:
        self.url_fetcher = StaticFilesURLFetcher()
        self.font_config = FontConfiguration()
        self.stylesheet = CSS(url=STYLESHEET_URL, url_fetcher=self.url_fetcher, font_config=self.font_config)
        self.html_class = type(
            "SummaryHTML", (_SummaryHTML,), {"ua_stylesheet": CSS(url=UA_STYLESHEET_URL, url_fetcher=self.url_fetcher)}
        )

    def render(self, html: str) -> tuple[bytes, int]:
        """(PDF bytes, page count)."""
        options = {"stylesheets": [self.stylesheet], "pdf_variant": PDF_VARIANT}
        document = self.html_class(string=html, url_fetcher=self.url_fetcher).render(
            font_config=self.font_config, **options
        )
        return document.write_pdf(**options), len(document.pages)

    def write_pdf(self, html: str) -> bytes:
        return self.render(html)[0]


_local = threading.local()


def renderer() -> SummaryRenderer:
    """This process's renderer (per thread too: WeasyPrint's font configuration is not shared across
    threads, and a forked child must not reuse its parent's)."""
    current = getattr(_local, "renderer", None)
    if current is None or getattr(_local, "pid", None) != os.getpid():
        _local.renderer = current = SummaryRenderer()
        _local.pid = os.getpid()
        # Everything alive now (Django, the apps, fonts, stylesheets) lives as long as the process: keep it
        # out of the garbage collector's full passes, which otherwise walk it during a PDF and double the
        # p95 of rendering time (measured with make bench).
        gc.collect()
        gc.freeze()
    return current


def summary_html(follow_up: OrderFollowUp, *, generated_at: datetime | None = None) -> str:
    return render_to_string(
        "fulfilment/pdf/summary.html",
        {
            "order": follow_up.order,
            "pharmacy": follow_up.pharmacy,
            "session": follow_up.session,
            "delivery_date": follow_up.delivery_date,
            "appointments_from": follow_up.appointments_from,
            "products": follow_up.products,
            "groups": follow_up.groups,
            "generated_at": timezone.localtime(generated_at or timezone.now()),
        },
    )


def render_summary_pdf(follow_up: OrderFollowUp, *, generated_at: datetime | None = None) -> bytes:
    """The PDF bytes of an order's summary. `follow_up` must have been read with `reveal=True`."""
    return renderer().write_pdf(summary_html(follow_up, generated_at=generated_at))


EMPTY_PAGE_HTML = (
    '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Page vide</title></head><body></body></html>'
)


def render_empty_page() -> bytes:
    """An empty page through the same renderer: the floor of what any PDF costs (for `make bench`)."""
    return renderer().write_pdf(EMPTY_PAGE_HTML)
