"""Structured logs: one JSON object per line in production, each with the request id (the load balancer's
X-Request-ID, or a new one), in the web processes and in the Celery tasks they enqueue."""

from __future__ import annotations

import io
import json
import logging
import weakref
from types import SimpleNamespace

import pytest

from vaccine_orders import logging as structured
from vaccine_orders.logging import CELERY_HEADER, JsonFormatter, RequestIdFilter, request_id_var, task_var

from .production import production_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """The root logger's records as the production handler writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_production_logs_json_lines_with_the_request_id():
    config = production_settings()["LOGGING"]
    handler = config["handlers"][config["root"]["handlers"][0]]
    assert config["formatters"][handler["formatter"]]["()"] == "vaccine_orders.logging.JsonFormatter"
    assert [config["filters"][name]["()"] for name in handler["filters"]] == ["vaccine_orders.logging.RequestIdFilter"]


def test_a_log_line_of_a_request_carries_its_request_id(client, json_lines):
    response = client.get("/page-qui-n-existe-pas/", HTTP_X_REQUEST_ID="lb-0042")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-0042"
    lines = [line for line in json_lines() if line["logger"] == "django.request"]
    assert lines, json_lines()
    line = lines[-1]
    assert line["request_id"] == "lb-0042"
    assert line["level"] == "WARNING"
    assert "page-qui-n-existe-pas" in line["message"]
    assert set(line) >= {"time", "level", "logger", "message", "request_id"}


def test_without_an_incoming_id_each_request_gets_its_own(client):
    first = client.get("/aide/")["X-Request-ID"]
    second = client.get("/aide/")["X-Request-ID"]
    assert first != second and len(first) == 32


def test_an_exception_is_one_json_line_with_its_traceback(json_lines):
    try:
        raise ValueError("quantité illisible")
    except ValueError:
        logging.getLogger("vaccine_orders.test").exception("échec")
    line = json_lines()[-1]
    assert line["message"] == "échec"
    assert "ValueError: quantité illisible" in line["exception"]


# --- Celery -------------------------------------------------------------------------------------------------------


def test_a_task_enqueued_during_a_request_carries_its_id_in_the_message():
    headers: dict = {}
    token = request_id_var.set("requete-abc")
    try:
        structured._stamp_request_id(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers == {CELERY_HEADER: "requete-abc"}
    outside: dict = {}
    structured._stamp_request_id(headers=outside)  # a task sent by beat: no request
    assert outside == {}


def test_the_worker_logs_the_task_with_the_request_id_it_came_with(json_lines):
    task = SimpleNamespace(name="fulfilment.tasks.friday_mailing", request=SimpleNamespace(**{CELERY_HEADER: "rq-7"}))
    structured._enter_task(task_id="t-1", task=task)
    logging.getLogger("fulfilment.tasks").info("lot envoyé")
    structured._leave_task(task_id="t-1")
    logging.getLogger("fulfilment.tasks").info("après")
    during, after = json_lines()[-2:]
    assert (during["request_id"], during["task"]) == ("rq-7", "fulfilment.tasks.friday_mailing")
    assert after["request_id"] == "-" and "task" not in after
    assert task_var.get() == "-"


def test_a_scheduled_task_logs_its_own_task_id(json_lines):
    task = SimpleNamespace(name="vaccine_orders.portal.tasks.beat_heartbeat", request=SimpleNamespace())
    structured._enter_task(task_id="c0ffee", task=task)
    logging.getLogger("x").info("battement")
    structured._leave_task(task_id="c0ffee")
    assert json_lines()[-1]["request_id"] == "c0ffee"


def test_the_signals_are_connected_in_every_process():
    from celery import signals

    import vaccine_orders.celery  # noqa: F401 - connects them

    def resolve(receiver):
        return receiver() if isinstance(receiver, weakref.ReferenceType) else receiver

    receivers = {
        signal: [resolve(receiver) for _, receiver in signal.receivers]
        for signal in (signals.setup_logging, signals.before_task_publish, signals.task_prerun, signals.task_postrun)
    }
    assert structured._configure_from_django in receivers[signals.setup_logging]
    assert structured._stamp_request_id in receivers[signals.before_task_publish]
    assert structured._enter_task in receivers[signals.task_prerun]
    assert structured._leave_task in receivers[signals.task_postrun]
