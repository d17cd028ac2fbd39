"""Airlock settings: environment variables only (12-factor). Bad values fail at start-up."""

import hashlib
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AIRLOCK_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, got {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envduration(name: str, default: str) -> int:
    """Seconds from '90', '90s', '15m', '2h' or '1d'."""
    from governance.policy.durations import parse_duration

    value = os.environ.get(name, default)
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


DEBUG = envbool("DEBUG", "false")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # Embedded mode: a per-installation key kept under var/, never in the repo.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(os.urandom(48).hex())
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "channels",
    "governance",
    "approvals",
]

MIDDLEWARE = [
    "governance.api.middleware.BodySizeLimitMiddleware",
    "governance.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "governance.api.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
AIRLOCK_DB_CONNECT_TIMEOUT = envint("AIRLOCK_DB_CONNECT_TIMEOUT", "2")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Under ASGI each request runs its sync view in a thread of its own and Django's
        # connections are per thread, so persistent connections (CONN_MAX_AGE) pile up until
        # PostgreSQL refuses clients (found by bench/decide_http.py). Django's docs: disable
        # them under ASGI and pool instead. A request borrows a warm connection and returns
        # it when it ends; when the pool stays empty for `timeout` seconds the request fails
        # (decide answers 503, never allow).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        options = DATABASES["default"].setdefault("OPTIONS", {})
        # An unreachable database must cost a request at most AIRLOCK_DB_CONNECT_TIMEOUT
        # seconds before it answers 503 deny (the contract says within 3 s): libpq's connect
        # timeout bounds each attempt, the pool's timeout bounds the wait for a connection.
        options.setdefault("connect_timeout", AIRLOCK_DB_CONNECT_TIMEOUT)
        options["pool"] = {
            "min_size": 2,
            "max_size": envint("AIRLOCK_DB_POOL_SIZE", "10"),
            "timeout": AIRLOCK_DB_CONNECT_TIMEOUT,
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "airlock.sqlite3",
            "OPTIONS": {
                # WAL lets readers run beside the single writer; IMMEDIATE takes the write
                # lock at BEGIN so two writers never deadlock upgrading a read lock.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
# Test databases are named after this checkout so parallel checkouts never share one.
_checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_checkout}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_airlock_{_checkout}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and Channels layer ------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "") or f"unix://{VAR_DIR / 'redis.sock'}"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 defaults socket_timeout to 5 s, the same as channels_redis's blocking
        # BZPOPMIN: idle sockets then crash with TimeoutError and reconnect (channels_redis#422).
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "prefix": os.environ.get("AIRLOCK_CHANNEL_PREFIX", "airlock"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1) if REDIS_URL.startswith("unix://") else REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("AIRLOCK_CELERY_QUEUE", "airlock")
# ETA tasks must outlive the longest escalation TTL, or Redis redelivers them early.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7 * 24 * 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Safety net for escalation expiry: ETA tasks do the work on time; this catches what they miss.
CELERY_BEAT_SCHEDULE["approvals-expire-due"] = {
    "task": "approvals.expire_due_escalations", "schedule": 2.0, "options": {"expires": 10},
}

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- API ------------------------------------------------------------------
# Whole request body; params and context have their own, smaller limits.
AIRLOCK_MAX_BODY_BYTES = envint("AIRLOCK_MAX_BODY_BYTES", "65536")
AIRLOCK_MAX_FIELD_BYTES = envint("AIRLOCK_MAX_FIELD_BYTES", "16384")
# JSON bodies: arrays/objects nested deeper than this are a 400 (governance/api/parsers.py).
AIRLOCK_MAX_JSON_DEPTH = envint("AIRLOCK_MAX_JSON_DEPTH", "32")
DATA_UPLOAD_MAX_MEMORY_SIZE = max(AIRLOCK_MAX_BODY_BYTES, 2_621_440)
AIRLOCK_ESCALATION_TTL = envduration("AIRLOCK_ESCALATION_TTL", "15m")
# Serve POST /api/v1/decide and /verify through Django's WSGI handler on a pool of
# AIRLOCK_API_THREADS threads inside the ASGI server (governance/asgi_sync.py).
AIRLOCK_SYNC_API = envbool("AIRLOCK_SYNC_API", "false")
AIRLOCK_API_THREADS = envint("AIRLOCK_API_THREADS", "10")
# A violation soon after an envelope change is tagged "reliability" (anomalies, SPEC §5).
AIRLOCK_ANOMALY_ENVELOPE_WINDOW = envduration("AIRLOCK_ANOMALY_ENVELOPE_WINDOW", "24h")
# Agent callbacks: per-attempt timeout (s), retries after the first attempt, first backoff (s, doubles).
AIRLOCK_CALLBACK_TIMEOUT = envint("AIRLOCK_CALLBACK_TIMEOUT", "5")
AIRLOCK_CALLBACK_RETRIES = envint("AIRLOCK_CALLBACK_RETRIES", "8")
AIRLOCK_CALLBACK_BACKOFF = envint("AIRLOCK_CALLBACK_BACKOFF", "2")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Airlock API",
    "DESCRIPTION": "Ask before acting: allow, deny or escalate to a human.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Slack (off unless both secrets are set) ------------------------------
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "")
SLACK_CHANNEL = os.environ.get("SLACK_CHANNEL", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
SLACK_TIMEOUT = envint("SLACK_TIMEOUT", "10")  # seconds per Slack API call (in Celery, never in a request)
SLACK_ENABLED = bool(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)

# --- Logging: secrets never logged ----------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Swagger UI served from our own static files (no CDN at run time).
SPECTACULAR_SETTINGS.update({"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"})
