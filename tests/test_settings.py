"""Production settings refuse to start without their variables, and say which one is missing."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.production",
    "SECRET_KEY": "x" * 60,
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "commande-vaccins.example",
    "EMAIL_URL": "smtp://127.0.0.1:25",
    "PSC_SERVER_URL": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
    "PSC_CLIENT_ID": "client",
    "PSC_CLIENT_SECRET": "secret",
}


def _load_production(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PROD_ENV and k != "DJANGO_READ_DOT_ENV_FILE"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['CONN_MAX_AGE'], settings.DEBUG, "
            "settings.DATABASES['default']['OPTIONS'].get('server_side_binding'), "
            "settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))",
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_load_with_every_variable():
    result = _load_production(PROD_ENV)
    assert result.returncode == 0, result.stderr
    # Persistent connections, no debug, statements prepared on the server after five runs on a connection.
    assert result.stdout.split() == ["60", "False", "True", "5"]


def test_preparing_statements_can_be_turned_off_for_a_transaction_mode_pooler():
    result = _load_production({**PROD_ENV, "DB_PREPARE_THRESHOLD": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "False", "True", "None"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PSC_CLIENT_SECRET", "EMAIL_URL"])
def test_production_settings_name_the_missing_variable(missing):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _load_production(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_development_defaults_to_sqlite_and_eager_celery():
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.TIME_ZONE, "
            "s.LANGUAGE_CODE, s.USE_TZ)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "vaccine_orders.settings.local"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "Europe/Paris", "fr", "True"]


def test_the_user_model_is_ours_from_the_first_migration():
    from django.conf import settings

    from accounts.migrations import __path__ as migrations_path

    assert settings.AUTH_USER_MODEL == "accounts.User"
    first = Path(migrations_path[0], "0001_initial.py").read_text(encoding="utf-8")
    assert "name='User'" in first or 'name="User"' in first


def test_production_keeps_sessions_in_redis():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_ENGINE, s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST)",
        ],
        env={**{k: v for k, v in os.environ.items() if k not in PROD_ENV}, **PROD_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["vaccine_orders.sessions", "1800", "True"]


def test_production_logs_json_and_keeps_weasyprint_rendering_steps_quiet():
    # WeasyPrint logs each rendering step at INFO: in the PDF worker that is several lines per summary.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, logging; django.setup(); "
            "print(logging.getLogger('weasyprint.progress').getEffectiveLevel(), "
            "type(logging.getLogger().handlers[0].formatter).__name__)",
        ],
        env={**{k: v for k, v in os.environ.items() if k not in PROD_ENV}, **PROD_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(logging.WARNING), "JsonFormatter"]


def test_the_worker_does_not_load_libraries_only_a_few_pages_need():
    # The PDF worker must stay under 150 MB: the holiday tables, iCalendar and XlsxWriter (about 14 MB) are
    # imported where they are used, not when Django and the Celery tasks load.
    heavy = ("holidays", "icalendar", "xlsxwriter")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, django; django.setup(); from vaccine_orders.celery import app; "
            "app.loader.import_default_modules(); import fulfilment.pdf; "
            f"print(*[m for m in {heavy!r} if m in sys.modules] or ['none'])",
        ],
        env={**{k: v for k, v in os.environ.items() if k not in PROD_ENV}, **PROD_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["none"]
