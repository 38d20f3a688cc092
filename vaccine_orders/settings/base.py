"""Settings shared by every environment.

Everything that differs between machines comes from the environment (django-environ), so the same
code runs on a laptop (SQLite, Celery eager), in CI (PostgreSQL, Redis) and in production.
Every variable read here is listed in the README's configuration table.
"""

from __future__ import annotations

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# --- Core -------------------------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SITE_ID = 1

ROOT_URLCONF = "vaccine_orders.urls"
WSGI_APPLICATION = "vaccine_orders.wsgi.application"
ASGI_APPLICATION = "vaccine_orders.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Language and time: a French service on Paris time ------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Applications -------------------------------------------------------------------------------

INSTALLED_APPS = [
    # django-dsfr before our apps so that our templates can extend and override its own.
    "widget_tweaks",
    "dsfr",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "django_htmx",
    "import_export",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    # Our apps.
    "accounts",
    "effectors",
    "sessions_calendar",
    "fulfilment",
    "fulfilment.reports",
    "vaccine_orders.audit",
    "vaccine_orders.orders",
    "vaccine_orders.portal",
]

AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "vaccine_orders.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "vaccine_orders.middleware.BusyDatabaseMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "vaccine_orders.portal.context_processors.site",
            ],
        },
    },
]

# The form renderer of Django 5 finds django-dsfr's widget templates through APP_DIRS.
FORM_RENDERER = "django.forms.renderers.DjangoTemplates"

# --- Database -----------------------------------------------------------------------------------

# Unset DATABASE_URL means the embedded SQLite file: `make run` works on a bare machine.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # transactions are opened by the services, see STYLE.md
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A lock wait or a runaway statement must end in a clear error page, never hang a worker.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c lock_timeout={env.int('DB_LOCK_TIMEOUT_MS', default=3000)}"
        f" -c statement_timeout={env.int('DB_STATEMENT_TIMEOUT_MS', default=30000)}"
    )
    # Parameters sent apart from the SQL text, and a statement run DB_PREPARE_THRESHOLD times on a connection
    # prepared there once, then no longer parsed nor planned: the statements of "Valider", replayed by pgbench,
    # took PostgreSQL 2.9 ms as plain queries and 1.7 ms prepared. 0 turns preparing off, for a pooler in
    # transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
    _prepare_threshold = env.int("DB_PREPARE_THRESHOLD", default=5)
    DATABASES["default"]["OPTIONS"].update(
        server_side_binding=True, prepare_threshold=_prepare_threshold if _prepare_threshold > 0 else None
    )

# --- Cache, Redis, Celery -----------------------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "vaccine_orders.cache.RedisCache",  # Django's, one client per pool (cache.py)
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cv",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None  # outcomes are stored in our own models (outbox, import runs, reports)
CELERY_TASK_IGNORE_RESULT = True
# Without Redis (development), tasks run in the web process as soon as they are enqueued.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 300
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Long tasks (a Friday mailing batch) must not be redelivered while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "fulfilment.tasks.*mail*": {"queue": "mail"},
    "fulfilment.tasks.*pdf*": {"queue": "pdf"},
}

# The static schedule, in Europe/Paris. Entries are added by the work that owns each job; every task
# is idempotent, so a run doubled by a daylight-saving change does no harm.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "heartbeat": {
        "task": "vaccine_orders.portal.tasks.beat_heartbeat",
        "schedule": crontab(minute="*/5"),
    },
}

# --- Sessions calendar: the end-of-session reminder -------------------------------------------------
# Every hour of the afternoon (Paris): the task finds the sessions whose last day is today (from 14:00,
# whatever the closing day) and claims each reminder before sending it, so extra runs send nothing twice.
CELERY_BEAT_SCHEDULE["session-reminders"] = {
    "task": "sessions_calendar.tasks.session_reminders_dispatch",
    "schedule": crontab(minute=5, hour="14-21"),
}

# --- Ordering: the receipt outbox ---------------------------------------------------------------------
# Each commit of an order wakes the receipt sender (at most once a second per process); this sweep is the
# safety net for a wake-up lost (broker unreachable) and for the retries: a row whose sender died or whose
# sending failed is taken again ORDERS_RECEIPT_RETRY_SECONDS after its claim.
CELERY_BEAT_SCHEDULE["orders-receipts-sweep"] = {
    "task": "vaccine_orders.orders.tasks.send_pending_receipts",
    "schedule": crontab(minute="*"),
}
ORDERS_RECEIPT_RETRY_SECONDS = env.int("ORDERS_RECEIPT_RETRY_SECONDS", default=600)

# --- Authentication (django-allauth) -------------------------------------------------------------

# Django's and allauth's backends, reading the account of each request through a precompiled query.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.ModelBackend",
    "accounts.backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10

PSC_SERVER_URL = env("PSC_SERVER_URL", default="").rstrip("/")
PSC_CLIENT_ID = env("PSC_CLIENT_ID", default="")
PSC_CLIENT_SECRET = env("PSC_CLIENT_SECRET", default="")

# --- Accounts: Pro Santé Connect, the e-mail code fallback, agents' TOTP (accounts/, see README) --------
# PSC_SERVER_URL is the realm (issuer), e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet; the
# provider reads its discovery document at <realm>/.well-known/wallet-openid-configuration (cached).
# Register with PSC: redirect URI <site>/accounts/psc/login/callback/, logout URI <site>/compte/deconnexion/.
PSC_TOKEN_AUTH_METHOD = env("PSC_TOKEN_AUTH_METHOD", default="client_secret_basic")
PSC_DISCOVERY_CACHE_SECONDS = 3600
SOCIALACCOUNT_PROVIDERS = {
    "prosanteconnect": {
        "APPS": [
            {
                "name": "Pro Santé Connect",
                "client_id": PSC_CLIENT_ID,
                "secret": PSC_CLIENT_SECRET,
                "settings": {
                    "server_url": PSC_SERVER_URL,
                    "token_auth_method": PSC_TOKEN_AUTH_METHOD,
                    "oauth_pkce_enabled": True,
                    "uid_field": "SubjectNameID",  # idNatPs = "8" + RPPS
                    "scope": ["openid", "scope_all"],
                    "acr": "eidas1",  # sent as acr_values, required back in the ID token
                },
            }
        ],
    },
}
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"  # the officine's address is proved by our own dialog (accounts.views)
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_STORE_TOKENS = False
# The fallback: a one-time code e-mailed to the officine's verified address, open only while SpF has switched
# "PSC indisponible" (ServiceSettings; enforced in accounts.forms and accounts.adapters).
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 5 * 60
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND = True
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True  # agents prove their address at first login
# Sign-up is closed, but allauth's login form only has a password field when sign-up asks for one.
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Commande de vaccins] "
ACCOUNT_FORMS = {
    "login": "accounts.forms.AgentLoginForm",
    "request_login_code": "accounts.forms.FallbackRequestCodeForm",
    "reset_password": "accounts.forms.StaffResetPasswordForm",
}
# Counted in the shared cache (Redis in production), so the limits hold across processes.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",  # the login pages, PSC button included
    "login_failed": "10/m/ip,5/5m/key",  # wrong passwords: 5 per address per 5 minutes
    "request_login_code": "20/m/ip,3/m/key",  # codes e-mailed: 3 per address per minute
    "manage_email": "5/m/user",  # codes sent by the officine's e-mail dialog
    "reset_password": "20/m/ip,5/m/key",
}
PHARMACY_EMAIL_CODE_TIMEOUT = 15 * 60
PHARMACY_EMAIL_CODE_MAX_ATTEMPTS = 3
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Commande de vaccins"
MFA_TOTP_TOLERANCE = 1  # one 30-second step of clock drift
MFA_ADAPTER = "accounts.adapters.MFAAdapter"  # TOTP secrets encrypted at rest
MIDDLEWARE.insert(
    MIDDLEWARE.index("allauth.account.middleware.AccountMiddleware") + 1, "accounts.middleware.AccountRoutesMiddleware"
)
# accounts/templates overrides allauth's pages and elements (French, DSFR): it must come before allauth.
INSTALLED_APPS.remove("accounts")
INSTALLED_APPS.insert(INSTALLED_APPS.index("allauth"), "accounts")

# --- Sessions and cookies -----------------------------------------------------------------------

# With Redis (production, CI's servers), sessions live in the cache: the sliding 30-minute expiry then costs a
# Redis write per request instead of a database transaction. Without Redis (make run), in the database.
# Django's cache sessions in Redis, an unchanged session only touched (vaccine_orders/sessions.py).
SESSION_ENGINE = "vaccine_orders.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 30 * 60  # 30 minutes of inactivity end the session (ASVS V3.3.2)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security headers (django-csp 4) ------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", *env.list("CSP_FORM_ACTION_EXTRA", default=[])],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}
# The PSC login button and the logout are forms whose redirect leaves for PSC: its realm host and its "wallet"
# host (the authorization endpoint, e.g. auth.esw… → wallet.esw…) must be allowed form targets.
if PSC_SERVER_URL:
    from urllib.parse import urlsplit as _urlsplit

    _psc = _urlsplit(PSC_SERVER_URL)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += [f"{_psc.scheme}://{_psc.netloc}"] + (
        [f"{_psc.scheme}://wallet.{_psc.netloc.removeprefix('auth.')}"] if _psc.netloc.startswith("auth.") else []
    )

# --- Static and media files -------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
# Shared by the web and worker processes (a volume in docker-compose): PDFs and reports live here.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# The order grid of a large officine posts one field per effector and product.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20000
DSFR_USE_INTEGRITY_CHECKSUMS = True

# --- E-mail -------------------------------------------------------------------------------------

# EMAIL_URL: smtp://user:password@host:port, smtp+tls://..., consolemail:// (the default), dummymail://
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Commande de vaccins <ne-pas-repondre@commande-vaccins.example>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = "[Commande de vaccins] "
EMAIL_TIMEOUT = 20
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="support@commande-vaccins.example")

# --- Portal: the public support form's protection -------------------------------------------------

# Submissions per hour of the support form, counted in the shared cache (Redis) across all processes.
SUPPORT_RATE_LIMIT_PER_IP = env.int("SUPPORT_RATE_LIMIT_PER_IP", default=10)
SUPPORT_RATE_LIMIT_PER_EMAIL = env.int("SUPPORT_RATE_LIMIT_PER_EMAIL", default=5)
# A form posted faster than this after it was served is a robot; older than that, it has expired.
SUPPORT_FORM_MIN_SECONDS = 3
SUPPORT_FORM_MAX_AGE_SECONDS = 4 * 3600
# Reverse proxies in front of gunicorn that append to X-Forwarded-For (0: trust REMOTE_ADDR only).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Hardening: rate limits of the POSTs that cost (vaccine_orders/ratelimit.py) ------------------------------
# "<count>/<period>" per account (per address when anonymous), counted in the shared cache; beyond: a French page,
# HTTP 429 with Retry-After. The grid posts its live totals at most twice a second while typing (htmx, 500 ms
# debounce): 600 in 10 minutes is a person typing without a pause, more is a robot. Login pages and codes also
# have allauth's own limits (ACCOUNT_RATE_LIMITS above); the support form has the portal's (SUPPORT_RATE_LIMIT_*).
RATE_LIMITS = {
    "order_entry": "600/10m",
    "order_validate": "30/10m",
    "order_cancel": "30/10m",
    "login_code": "30/10m",  # the e-mail code login, per address: an outage sends many officines there at once
    "email_code": "10/10m",  # "Visualiser compte": new address, code typed, per officine
}
MIDDLEWARE.append("vaccine_orders.ratelimit.RateLimitMiddleware")

# --- Import / export ----------------------------------------------------------------------------

IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

# --- Logging --------------------------------------------------------------------------------------

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}

# --- The service ----------------------------------------------------------------------------------

SERVICE_NAME = "Commande de vaccins"
SERVICE_OPERATOR = "Santé publique France"

# --- Fulfilment: publication, PDF summaries, Friday mailing, logistics export (fulfilment/) -----------
# Publication: every 15 minutes (so on the dot at the default Wednesday 18:00), the job renders the PDFs of
# sessions whose confirmation instant has passed; visibility itself is exact to the second without it.
# Friday 08:00 (Paris): prepare the outbox of the sessions published this week and send it. The sweep
# retries transient failures (backoff kept in the database, not in Celery ETAs) and takes back the rows of
# a worker that died while sending.
CELERY_BEAT_SCHEDULE["fulfilment-publish-confirmations"] = {
    "task": "fulfilment.tasks.publish_due_confirmations",
    "schedule": crontab(minute="*/15"),
}
CELERY_BEAT_SCHEDULE["fulfilment-friday-mailing"] = {
    "task": "fulfilment.tasks.friday_mailing",
    "schedule": crontab(day_of_week="fri", hour=8, minute=0),
}
CELERY_BEAT_SCHEDULE["fulfilment-mailing-sweep"] = {
    "task": "fulfilment.tasks.mailing_sweep",
    "schedule": crontab(minute="*/5"),
}
# Messages per batch task, all sent over one SMTP connection.
FULFILMENT_MAILING_BATCH_SIZE = env.int("FULFILMENT_MAILING_BATCH_SIZE", default=200)
# A row "sending" for longer than this belongs to a dead worker and is sent again. Must exceed the batch
# task's hard time limit (300 s), so that a live batch is never taken back.
FULFILMENT_MAILING_CLAIM_TIMEOUT = env.int("FULFILMENT_MAILING_CLAIM_TIMEOUT_SECONDS", default=600)
FULFILMENT_MAILING_QUEUE_TIMEOUT = env.int("FULFILMENT_MAILING_QUEUE_TIMEOUT_SECONDS", default=3600)
FULFILMENT_MAILING_MAX_ATTEMPTS = env.int("FULFILMENT_MAILING_MAX_ATTEMPTS", default=5)
FULFILMENT_MAILING_RETRY_BASE = env.int("FULFILMENT_MAILING_RETRY_BASE_SECONDS", default=60)
# Where "Envoyer à la logistique" e-mails the CSV export (empty: the action says it is not configured).
LOGISTICS_EXPORT_EMAIL = env("LOGISTICS_EXPORT_EMAIL", default="")
# WeasyPrint logs every rendering step at INFO: only its warnings (a font or file it could not load) matter.
LOGGING["loggers"]["weasyprint"] = {"level": "WARNING"}
LOGGING["loggers"]["fontTools"] = {"level": "WARNING"}

# --- Reports: ARS and national reporting (fulfilment/reports/) ----------------------------------------------
# 06:30 (Paris): the previous day's report of every region, stored (90 days, served by an authorised view),
# e-mailed as a link to the agents who subscribed; older reports purged by the same job. Idempotent (one
# report per day and region, a claimed e-mail per report): a doubled run at a DST change sends nothing twice.
CELERY_BEAT_SCHEDULE["reports-daily"] = {
    "task": "fulfilment.reports.tasks.daily_reports",
    "schedule": crontab(hour=6, minute=30),
}
# An XLSX file is built whole before its first byte is sent: past this many rows it would outlast gunicorn's
# 60-second timeout, so the agent is asked to take the CSV (streamed, no limit). 0: no limit.
REPORTS_XLSX_MAX_ROWS = env.int("REPORTS_XLSX_MAX_ROWS", default=200_000)

# --- Hardening: /healthz and the retention of personal data (vaccine_orders/health.py, portal/retention.py) -------
# /healthz reads the database through this alias (tests point it at an unreachable one), Redis with a short timeout,
# the workers' heartbeats (written every WORKER_HEARTBEAT_INTERVAL s, expired after WORKER_HEARTBEAT_MAX_AGE s) and
# the last run of the beat heartbeat job (every 5 minutes: older than BEAT_HEARTBEAT_MAX_AGE s means beat is down).
HEALTH_DATABASE_ALIAS = "default"
HEALTH_REDIS_TIMEOUT_SECONDS = 1
WORKER_HEARTBEAT_INTERVAL = env.int("WORKER_HEARTBEAT_INTERVAL_SECONDS", default=30)
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", default=120)
BEAT_HEARTBEAT_MAX_AGE = env.int("BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=15 * 60)
# Retention (the "Données personnelles" page states the same durations): the journal of changes (orders, effectors,
# accounts, confirmations) 3 years, the journal of consultations and logins 1 year, support requests 1 year after
# their last update once answered or closed. Purged every night by a scheduled job, in batches.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=3 * 365)
AUDIT_ACCESS_LOG_RETENTION_DAYS = env.int("AUDIT_ACCESS_LOG_RETENTION_DAYS", default=365)
SUPPORT_RETENTION_DAYS = env.int("SUPPORT_RETENTION_DAYS", default=365)
CELERY_BEAT_SCHEDULE["personal-data-purge"] = {
    "task": "vaccine_orders.portal.tasks.personal_data_purge",
    "schedule": crontab(hour=3, minute=40),
}
# A form refused by the CSRF check (expired, or posted from another site) gets a French page (vaccine_orders/errors.py).
CSRF_FAILURE_VIEW = "vaccine_orders.errors.csrf_failure"
# Where people exercise their rights on their personal data (the "Données personnelles" page): SpF's data protection
# officer. Set it in production.
DATA_PROTECTION_EMAIL = env("DATA_PROTECTION_EMAIL", default="dpo@commande-vaccins.example")
# Every upload (vaccine_orders/uploads.py): refused with a French page (413) beyond this size, before it is read. The
# largest legitimate one is the national RPPS extraction (about 1.9 million lines), sent zipped or not.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_MB", default=1024) * 1024 * 1024
# Last in the list, it still answers before any view or CSRF check reads the body (they run after every __call__).
MIDDLEWARE.append("vaccine_orders.uploads.UploadSizeMiddleware")
