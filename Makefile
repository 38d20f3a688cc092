# Commande de vaccins — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
MANAGE := $(PY) manage.py
PROD_CHECK_ENV := DJANGO_SETTINGS_MODULE=vaccine_orders.settings.production \
	SECRET_KEY=check-only-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	DATABASE_URL=postgres://check@127.0.0.1:5432/check REDIS_URL=redis://127.0.0.1:6379/0 \
	ALLOWED_HOSTS=commande-vaccins.example EMAIL_URL=smtp://127.0.0.1:25 \
	PSC_SERVER_URL=https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet \
	PSC_CLIENT_ID=check PSC_CLIENT_SECRET=check

.PHONY: bootstrap run test test-browser check format bench worker beat clean

bootstrap:
	@./scripts/bootstrap.sh

## make run: set everything up and serve the demo on http://127.0.0.1:8000 (SQLite, Celery eager, demo PSC)
run: bootstrap
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	$(MANAGE) rundemo

## make test: set up and run the test suite (SQLite unless DATABASE_URL is set)
test: bootstrap
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

## make test-browser: the pharmacist's journey in Debian's headless Chromium (Playwright)
test-browser:
	@WITH_BROWSER=1 ./scripts/bootstrap.sh
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(PY) -m pytest -m browser tests/e2e $(PYTEST_ARGS)

## make check: lint, migrations in sync, deployment checklist with production settings, dependency audit
## (AUDIT_OFFLINE_OK=1 on a machine that cannot reach pypi.org: the audit is then skipped with a warning)
AUDIT_OFFLINE_OK ?= 0
check: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run
	@echo "manage.py check --deploy (réglages de production, valeurs factices)"
	@$(PROD_CHECK_ENV) $(MANAGE) check --deploy --fail-level WARNING
	@echo "pip-audit (paquets verrouillés dans uv.lock)"
	@AUDIT_OFFLINE_OK=$(AUDIT_OFFLINE_OK) ./scripts/audit_dependencies.sh

format: bootstrap
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

## make bench: performance scenarios against gunicorn and PostgreSQL (see README)
bench: bootstrap
	$(PY) -m bench $(BENCH_ARGS)

worker: bootstrap
	.venv/bin/celery -A vaccine_orders worker -l INFO -Q default,mail,pdf

beat: bootstrap
	.venv/bin/celery -A vaccine_orders beat -l INFO --schedule var/celerybeat-schedule

clean:
	rm -rf var/staticfiles var/db.sqlite3
