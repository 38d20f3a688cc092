"""Structured logs: one JSON object per line in production, with the request id of the request."""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The Celery task being run in this context ("-" in a web request).
task_var: contextvars.ContextVar[str] = contextvars.ContextVar("task", default="-")
# The message header that carries the request id of whoever enqueued a task to the worker that runs it.
CELERY_HEADER = "cv_request_id"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id == "-":
            # Django logs a 4xx/5xx response (django.request) after the middleware has returned, with the request.
            request_id = getattr(getattr(record, "request", None), "request_id", "-")
        record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if (task := task_var.get()) != "-":
            payload["task"] = task
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class RequestIdMiddleware:
    """Take the load balancer's X-Request-ID, or make one, and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if incoming.isascii() and 0 < len(incoming) <= 64 else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


# --- Celery: the same lines, with the request id of the request that enqueued the task ---------------------------

_task_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


def _configure_from_django(**kwargs: object) -> None:
    """Connected to Celery's setup_logging: Celery then leaves logging alone, and the worker and beat log through
    Django's LOGGING (JSON lines in production), like the web processes."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _stamp_request_id(headers: dict | None = None, **kwargs: object) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault(CELERY_HEADER, request_id)


def _enter_task(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    request = getattr(task, "request", None)
    current = request_id_var.get()
    request_id = getattr(request, CELERY_HEADER, None) or (current if current != "-" else task_id) or "-"
    tokens = (request_id_var.set(str(request_id)[:64]), task_var.set(getattr(task, "name", "-") or "-"))
    if task_id:
        _task_tokens[task_id] = tokens


def _leave_task(task_id: str | None = None, **kwargs: object) -> None:
    tokens = _task_tokens.pop(task_id or "", None)
    if tokens is not None:
        task_var.reset(tokens[1])
        request_id_var.reset(tokens[0])


def install_celery_logging() -> None:
    """Called once by vaccine_orders.celery, in every process (web, worker, beat)."""
    from celery import signals

    signals.setup_logging.connect(_configure_from_django, weak=False, dispatch_uid="cv_logging_setup")
    signals.before_task_publish.connect(_stamp_request_id, weak=False, dispatch_uid="cv_logging_publish")
    signals.task_prerun.connect(_enter_task, weak=False, dispatch_uid="cv_logging_prerun")
    signals.task_postrun.connect(_leave_task, weak=False, dispatch_uid="cv_logging_postrun")
