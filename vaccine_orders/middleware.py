"""Turning a lock wait that timed out into a clear "réessayez" page (HTTP 503), never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATE: lock_not_available (lock_timeout), query_canceled (statement_timeout).
RETRYABLE_SQLSTATES = {"55P03", "57014"}


def is_retryable_db_error(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


class BusyDatabaseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError) and is_retryable_db_error(exception):
            logger.warning("database busy (%s) on %s", exception.__cause__, request.path)
            body = render_to_string("503_busy.html", {"page_title": "Service très sollicité"}, request=request)
            response = HttpResponse(body, status=503)
            response["Retry-After"] = "5"
            return response
        return None
