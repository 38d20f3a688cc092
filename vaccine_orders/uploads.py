"""A ceiling on every upload, before Django reads a byte of it: a multipart request larger than MAX_UPLOAD_BYTES
gets a French page (HTTP 413) at once, whatever the form. Each form also checks its own files (type and a size
that fits what it expects: a guide, a FINESS list, a DGS table, a referential extraction); this is the guard for
all of them, so that no upload can fill the disk or hold a worker for minutes."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class UploadSizeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.MAX_UPLOAD_BYTES
            if length > limit:
                return render(
                    request,
                    "413.html",
                    {"page_title": "Fichier trop volumineux", "limit_mb": limit // (1024 * 1024)},
                    status=413,
                )
        return self.get_response(request)
