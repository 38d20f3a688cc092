"""Who may open the support's read-only pages on an officine: SpF staff holding the permission that the
groups "Support niveau 1" and "Support niveau 2" carry."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.access import View, staff_required

PHARMACY_FILE_PERMISSION = "portal.view_pharmacy_file"


def support_agent_required(view: View) -> View:
    @staff_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(PHARMACY_FILE_PERMISSION):
            raise PermissionDenied("Cette page est réservée aux agents du support.")
        return view(request, *args, **kwargs)

    return wrapper
