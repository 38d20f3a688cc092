"""The French page of a POST refused by the CSRF check (Django's own is English and knows nothing of the service)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", {"page_title": "Formulaire expiré"}, status=403)
