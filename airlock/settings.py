"""Airlock settings: environment variables only (12-factor). Bad values fail at start-up."""

import hashlib
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from governance.policy.durations import format_duration, parse_duration
from integrations.registry import CHANNELS

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


def envduration(name: str, default: str, maximum: int | None = None) -> int:
    """Seconds from '90', '90s', '15m', '2h' or '1d'; at most `maximum` when given."""
    value = os.environ.get(name, default)
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    if maximum is not None and seconds > maximum:
        raise ImproperlyConfigured(f"{name}: {value!r} is longer than the limit of {format_duration(maximum)}")
    return seconds


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
    "axes",
    # The project itself (login throttling), the two domain apps, the interfaces above
    # them, then every registered channel.
    "airlock",
    "governance",
    "approvals",
    "api",
    "webqueue",
    "adminui",
    "ops",
    *CHANNELS,
]

MIDDLEWARE = [
    "ops.middleware.RequestIdMiddleware",
    "airlock.middleware.BodySizeLimitMiddleware",
    "airlock.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "airlock.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "airlock.urls"
WSGI_APPLICATION = "airlock.wsgi.application"
ASGI_APPLICATION = "airlock.asgi.application"

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
        # Statements run through shared.db.prepared_cursor() (the decide path's) are prepared
        # once per connection after this many runs; 0 turns that off (a transaction-pooling
        # proxy). Everything else keeps Django's client-side binding and never prepares.
        options.setdefault("prepare_threshold", envint("AIRLOCK_DB_PREPARE_THRESHOLD", "2") or None)
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
# acks_late + a short visibility timeout: a task a killed worker held is put back in the queue
# after AIRLOCK_CELERY_VISIBILITY_TIMEOUT s (checked every 5 s by the live workers). Redis
# redelivers any message held longer than that, so no task is scheduled with an ETA/countdown
# beyond AIRLOCK_CELERY_MAX_ETA (half of it): far deadlines and long backoffs are left to the
# beat sweeps (expiry, deliveries), and every task is idempotent.
AIRLOCK_CELERY_VISIBILITY_TIMEOUT = envint("AIRLOCK_CELERY_VISIBILITY_TIMEOUT", "30")
AIRLOCK_CELERY_MAX_ETA = AIRLOCK_CELERY_VISIBILITY_TIMEOUT // 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": AIRLOCK_CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Safety net for escalation expiry: ETA tasks do the work on time; this catches what they miss.
CELERY_BEAT_SCHEDULE["approvals-expire-due"] = {
    "task": "approvals.expire_due_escalations", "schedule": 2.0, "options": {"expires": 10},
}
# Side effects (callbacks, Slack message updates) recorded in the database but never confirmed
# delivered are re-sent by this sweep (approvals/deliveries.py).
CELERY_BEAT_SCHEDULE["approvals-deliveries-due"] = {
    "task": "approvals.deliveries_sweep", "schedule": 5.0, "options": {"expires": 10},
}

# Escalation tiers and reminders (approvals/routing.py): due steps are sent by this sweep.
CELERY_BEAT_SCHEDULE["approvals-routing-due"] = {
    "task": "approvals.routing_sweep", "schedule": 2.0, "options": {"expires": 10},
}
# Remind approvers this long before an escalation's deadline (half-time for shorter ones; 0 = off).
AIRLOCK_REMINDER_BEFORE = envduration("AIRLOCK_REMINDER_BEFORE", "3m", maximum=86400)
# Where people reach Airlock: the base of links in emails and other channels.
AIRLOCK_BASE_URL = (os.environ.get("AIRLOCK_BASE_URL", "").strip() or f"http://localhost:{os.environ.get('PORT', '8000')}").rstrip("/")
if not AIRLOCK_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("AIRLOCK_BASE_URL must start with http:// or https://")
# The email channel (integrations/email): on when both are set. EMAIL_URL is
# smtp://[user:password@]host[:port] (STARTTLS: smtp+tls://, implicit TLS: smtps://).
EMAIL_URL = os.environ.get("EMAIL_URL", "")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "")
if EMAIL_URL:
    from shared.email_url import email_settings

    try:
        globals().update(email_settings(EMAIL_URL))
    except ValueError as exc:
        raise ImproperlyConfigured(f"EMAIL_URL: {exc}") from None
EMAIL_ENABLED = bool(EMAIL_URL and DEFAULT_FROM_EMAIL)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "10")

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Login throttling (django-axes; airlock/login_throttle.py): per username AND address, a
# lockout after AIRLOCK_LOGIN_FAILURE_LIMIT failures in a row, AIRLOCK_LOGIN_COOLOFF seconds
# long, doubling with each further failure up to AIRLOCK_LOGIN_COOLOFF_MAX. Bearer tokens (agent
# API, approver tokens) never go through authenticate(), so axes does not see them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AIRLOCK_LOGIN_FAILURE_LIMIT = envint("AIRLOCK_LOGIN_FAILURE_LIMIT", "5")
AIRLOCK_LOGIN_COOLOFF = envduration("AIRLOCK_LOGIN_COOLOFF", "1m")
AIRLOCK_LOGIN_COOLOFF_MAX = envduration("AIRLOCK_LOGIN_COOLOFF_MAX", "1d")
AXES_FAILURE_LIMIT = AIRLOCK_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "airlock.login_throttle.login_cool_off"
AXES_USE_ATTEMPT_EXPIRATION = True  # each pair's attempts expire on their own backoff
AXES_RESET_ON_SUCCESS = True  # a successful login starts the pair's count again
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True  # hammering a locked pair extends it
AXES_LOCKOUT_CALLABLE = "airlock.login_throttle.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken"]
AXES_VERBOSE = False

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
# JSON bodies: arrays/objects nested deeper than this are a 400 (api/parsers.py).
AIRLOCK_MAX_JSON_DEPTH = envint("AIRLOCK_MAX_JSON_DEPTH", "32")
DATA_UPLOAD_MAX_MEMORY_SIZE = max(AIRLOCK_MAX_BODY_BYTES, 2_621_440)
# Capped like an envelope's escalation_ttl (governance/policy/limits.py): the default
# deadline of every escalation must stay a date.
AIRLOCK_ESCALATION_TTL = envduration("AIRLOCK_ESCALATION_TTL", "15m", maximum=7 * 86400)
# Serve POST /api/v1/decide and /verify through Django's WSGI handler on a pool of
# AIRLOCK_API_THREADS threads inside the ASGI server (airlock/asgi_sync.py). Four per worker:
# fewer decisions in flight at once wait less on each other's agent locks and cost less CPU
# each than ten did (docs/deploy.md, "Workers × threads").
AIRLOCK_SYNC_API = envbool("AIRLOCK_SYNC_API", "false")
AIRLOCK_API_THREADS = envint("AIRLOCK_API_THREADS", "4")
# A violation soon after an envelope change is tagged "reliability" (anomalies, SPEC §5).
AIRLOCK_ANOMALY_ENVELOPE_WINDOW = envduration("AIRLOCK_ANOMALY_ENVELOPE_WINDOW", "24h")
# Agent callbacks: per-attempt timeout (s), retries after the first attempt, first backoff (s, doubles).
AIRLOCK_CALLBACK_TIMEOUT = envint("AIRLOCK_CALLBACK_TIMEOUT", "5")
AIRLOCK_CALLBACK_RETRIES = envint("AIRLOCK_CALLBACK_RETRIES", "8")
AIRLOCK_CALLBACK_BACKOFF = envint("AIRLOCK_CALLBACK_BACKOFF", "2")
# Callback URLs resolving to loopback, link-local, private or metadata addresses are refused
# (at registration and again at send time) unless this is true (local demos and tests).
AIRLOCK_CALLBACK_ALLOW_PRIVATE = envbool("AIRLOCK_CALLBACK_ALLOW_PRIVATE", "false")
# A callback or Slack update not confirmed delivered is re-sent by the beat sweep this many
# seconds after its last attempt started (first backoff; doubles up to 10 min), and given up
# (logged, audited) after AIRLOCK_DELIVERY_MAX_ATTEMPTS attempts.
AIRLOCK_DELIVERY_RESEND_AFTER = envint("AIRLOCK_DELIVERY_RESEND_AFTER", "30")
AIRLOCK_DELIVERY_MAX_ATTEMPTS = envint("AIRLOCK_DELIVERY_MAX_ATTEMPTS", "20")

# After-commit events go through a transactional outbox (governance/outbox.py): "relay" (a
# thread in each Celery worker delivers them; the request only writes the row), "commit" (the
# committing process drains it right after commit; tests, a web process without a worker),
# "off" (no row, receivers run at commit in the request: the old behaviour, for benches).
AIRLOCK_OUTBOX = os.environ.get("AIRLOCK_OUTBOX", "relay")
if AIRLOCK_OUTBOX not in ("relay", "commit", "off"):
    raise ImproperlyConfigured(f"AIRLOCK_OUTBOX must be relay, commit or off, got {AIRLOCK_OUTBOX!r}")
AIRLOCK_OUTBOX_RELAY = envbool("AIRLOCK_OUTBOX_RELAY", "true")  # run the relay in Celery workers
AIRLOCK_OUTBOX_LEASE = envint("AIRLOCK_OUTBOX_LEASE", "30")  # s a claim holds rows (a dead relay's come back after)
AIRLOCK_OUTBOX_MAX_ATTEMPTS = envint("AIRLOCK_OUTBOX_MAX_ATTEMPTS", "10")
# Seconds between looks when nothing wakes the relay: PostgreSQL wakes it by NOTIFY at commit
# (the poll only picks up retries and expired leases); SQLite has no NOTIFY, so it polls.
AIRLOCK_OUTBOX_POLL = envint("AIRLOCK_OUTBOX_POLL_MS", "1000") / 1000
AIRLOCK_OUTBOX_POLL_SQLITE = envint("AIRLOCK_OUTBOX_POLL_SQLITE_MS", "100") / 1000

# --- Audit trail: keyed chain hashes, checkpoints outside the database (docs/audit.md) ----
def var_secret(name: str) -> str:
    """A per-installation secret generated once into var/<name> (mode 0600). Written under a
    temporary name and linked into place, so processes starting together agree on one value."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        temporary = VAR_DIR / f".{name}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(os.urandom(32).hex())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won; use theirs
        finally:
            temporary.unlink()
    return path.read_text().strip()


# HMAC-SHA256 key of every audit event hash and checkpoint line. It must never be stored in
# the database: someone who can write the database must not be able to recompute the chain.
AUDIT_KEY = os.environ.get("AUDIT_KEY", "") or var_secret("audit_key")
if len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_KEY must be at least 32 characters (e.g. 64 hex digits)")
AUDIT_CHECKPOINT_DIR = os.environ.get("AUDIT_CHECKPOINT_DIR", "") or str(VAR_DIR / "audit-checkpoints")
AUDIT_CHECKPOINT_INTERVAL = envduration("AUDIT_CHECKPOINT_INTERVAL", "5m")
CELERY_BEAT_SCHEDULE["governance-audit-checkpoint"] = {
    "task": "governance.audit_checkpoint", "schedule": float(AUDIT_CHECKPOINT_INTERVAL),
    "options": {"expires": AUDIT_CHECKPOINT_INTERVAL},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
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
# The Slack workspace (team id, T…) whose clicks count; unset: learned from auth.test.
SLACK_TEAM_ID = os.environ.get("SLACK_TEAM_ID", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
SLACK_TIMEOUT = envint("SLACK_TIMEOUT", "10")  # seconds per Slack API call (in Celery, never in a request)
SLACK_ENABLED = bool(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)

# --- Operations: metrics, logs, traces (docs/deploy.md) --------------------
# GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>" when set; open when empty.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Several processes (web, workers) share one metrics directory: prometheus-client's
# multiprocess mode. scripts/run.py sets it to var/prometheus and empties it at start.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
# "plain" (default) or "json": one JSON object per line, with the request id.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")

# --- Logging: secrets never logged ----------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shared.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
if LOG_FORMAT == "json":
    # The servers' own loggers too, so every line on stderr is one JSON object.
    for _name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        LOGGING["loggers"][_name] = {"handlers": ["console"], "propagate": False}
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Swagger UI served from our own static files (no CDN at run time).
SPECTACULAR_SETTINGS.update({"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"})

# StateTally's unique key carries n and total (INCLUDE) so PostgreSQL sums a window by an
# index-only scan; SQLite has no such clause and keeps the plain unique key (it reads the
# request rows anyway, docs/performance.md), which Django reports as models.W039.
SILENCED_SYSTEM_CHECKS = ["models.W039"]
