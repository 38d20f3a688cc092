"""docker-compose.yml must describe the service the code really is: commands that exist, variables that
the settings read, and healthchecks on PostgreSQL and Redis. (No Docker engine runs here; this is
what can be checked without one.)"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SETTINGS_SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "vaccine_orders/settings").glob("*.py"))
APP_SERVICES = ["web", "worker", "beat"]


def _variables_read_by_settings() -> set[str]:
    names = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z_][A-Z0-9_]*)["']""", SETTINGS_SOURCE))
    names |= set(re.findall(r'"([A-Z_][A-Z0-9_]*)"', SETTINGS_SOURCE.split("REQUIRED = [", 1)[1].split("]", 1)[0]))
    return names | {"DJANGO_SETTINGS_MODULE"}


def test_the_stack_has_every_service():
    assert set(COMPOSE["services"]) >= {"web", "worker", "beat", "postgres", "redis", "mailpit"}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_app_variable_is_read_by_the_settings(service):
    environment = COMPOSE["services"][service]["environment"]
    unknown = set(environment) - _variables_read_by_settings()
    assert not unknown, f"{service}: variables unknown to the settings: {sorted(unknown)}"


def test_every_required_production_variable_is_provided():
    required = re.findall(r'"([A-Z_]+)"', SETTINGS_SOURCE.split("REQUIRED = [", 1)[1].split("]", 1)[0])
    for service in APP_SERVICES:
        assert set(required) <= set(COMPOSE["services"][service]["environment"]), service


def _command(service: str) -> list[str]:
    command = COMPOSE["services"][service]["command"]
    return shlex.split(command) if isinstance(command, str) else command


def test_gunicorn_target_and_manage_py_exist():
    text = " ".join(_command("web"))
    target = re.search(r"gunicorn (\S+)", text).group(1)
    module, attribute = target.split(":")
    assert module == "vaccine_orders.wsgi"
    assert attribute == "application"
    assert (ROOT / "vaccine_orders/wsgi.py").exists()
    assert "manage.py migrate" in text
    assert (ROOT / "manage.py").exists()
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert target in dockerfile


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_commands_name_our_app_and_known_queues(service, settings):
    command = _command(service)
    assert command[:3] == ["celery", "-A", "vaccine_orders"]
    app = importlib.import_module(command[2]).celery_app
    assert app.main == "vaccine_orders"
    if "-Q" in command:
        queues = set(command[command.index("-Q") + 1].split(","))
        routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
        assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= queues


def test_postgres_and_redis_have_healthchecks_and_the_app_waits_for_them():
    for name in ("postgres", "redis"):
        assert COMPOSE["services"][name]["healthcheck"]["test"]
    for service in APP_SERVICES:
        depends = COMPOSE["services"][service]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_the_app_points_at_the_compose_services():
    environment = COMPOSE["services"]["web"]["environment"]
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379")
    assert environment["EMAIL_URL"] == "smtp://mailpit:1025"
