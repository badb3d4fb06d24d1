"""Django settings, read from the environment with django-environ.

DATABASE_URL (default SQLite at var/db.sqlite3), REDIS_URL (absent = embedded
single-machine mode: in-memory channel layer + in-process worker thread + local-memory
cache; present = channels_redis + Celery with a Redis broker + Redis cache), SECRET_KEY,
DEBUG (DJANGO_DEBUG=1 or DJANGO_ENV=development), ALLOWED_HOSTS, PORT, WEB_CONCURRENCY,
WEB_THREADS, LAB_DB_POOL (+ DB_POOL_MIN_SIZE/MAX_SIZE/TIMEOUT), LAB_HEARTBEAT_TIMEOUT, LAB_REAPER_INTERVAL,
LAB_WORKER_NICE; limits: LAB_MAX_UPLOAD_MB, LAB_MAX_ANONYMOUS_BODY_KB, LAB_LOGIN_FAILURES,
LAB_LOGIN_ADDRESS_FAILURES, LAB_SIGNUP_ATTEMPTS_PER_HOUR, LAB_API_RATE_LIMIT (+ _WINDOW).
"""
import importlib.util
import os
import secrets
import time
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=env.bool("DEBUG", default=False)) or (
    env.str("DJANGO_ENV", default="") == "development"
)


def _secret_key():
    """SECRET_KEY from env; a dev default only when DEBUG; else a per-install key file."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if DEBUG:
        return "dev-only-insecure-key-do-not-use-in-production"
    path = VAR_DIR / "secret_key"
    try:  # created at most once (O_EXCL): services starting together on one volume share it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:  # pragma: no cover - read-only filesystem
        raise ImproperlyConfigured("Set SECRET_KEY in the environment.") from exc
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    for _ in range(50):  # another process may be writing it this instant
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.1)
    raise ImproperlyConfigured(f"{path} is empty: delete it, or set SECRET_KEY in the environment.")


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PORT = env.int("PORT", default=8000)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "ninja",  # the API documentation page's static files (Swagger UI)
    "webapp.lab",
    "webapp.teams",
    "webapp.api",
]

MIDDLEWARE = [
    "webapp.lab.security.ContentSecurityPolicyMiddleware",  # every response, the 503 page included
    "webapp.lab.middleware.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "webapp.asgi.application"

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
                "webapp.lab.context_processors.accounts",
                "webapp.teams.context.teams",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Connection pool (psycopg_pool) for the ASGI web processes: Django runs each request's
    # sync code in a fresh thread, so CONN_MAX_AGE cannot keep a connection between requests;
    # the pool can. webapp/serve.py and webapp/asgi.py turn it on (LAB_DB_POOL=1) before the
    # settings load; Celery workers and tests keep plain connections. The pool checks a
    # connection before handing it out (CONN_HEALTH_CHECKS) and replaces dead ones, so the
    # app recovers from a Postgres restart by itself (tests/web/test_pool_outage.py).
    DB_POOL = env.bool("LAB_DB_POOL", default=False)
    if DB_POOL:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=12),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),  # then 503 "database unreachable"
            "max_idle": 300,
            "name": "lab-web",
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after LAB_LOGIN_FAILURES failed sign-ins of one username
# from one address, that pair answers 429 for LAB_LOGIN_COOLOFF_MINUTES; an address answers 429
# for every username after LAB_LOGIN_ADDRESS_FAILURES failures (a password spray). No global
# per-username lock: failures from elsewhere cannot lock an admin out (webapp/lab/lockout.py).
# The check runs before the password is hashed, so a locked-out flood costs no hashing.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "webapp.lab.lockout.PairLockoutHandler"
AXES_FAILURE_LIMIT = env.int("LAB_LOGIN_FAILURES", default=5)
LAB_LOGIN_ADDRESS_FAILURES = env.int("LAB_LOGIN_ADDRESS_FAILURES", default=50)
AXES_COOLOFF_TIME = env.float("LAB_LOGIN_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # the address ceiling: lockout.py
AXES_RESET_ON_SUCCESS = True
# sign-up attempts (POSTs) per address per hour (views/auth.signup), then 429
LAB_SIGNUP_ATTEMPTS_PER_HOUR = env.int("LAB_SIGNUP_ATTEMPTS_PER_HOUR", default=20)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "experiment-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
_plotly_spec = importlib.util.find_spec("plotly")
if _plotly_spec and _plotly_spec.submodule_search_locations:
    # plotly.min.js is served from the python package's bundled copy (no CDN).
    STATICFILES_DIRS.append(
        ("vendor/plotly", str(Path(list(_plotly_spec.submodule_search_locations)[0]) / "package_data"))
    )
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- background execution -------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_MODE = not REDIS_URL
# The `demo` account exists, and the sign-in page mentions it, only in the local single-machine
# mode. On a team server the first account is made with `manage.py createsuperuser`, and open
# sign-up (/accounts/signup/) is off unless LAB_ALLOW_SIGNUP=1.
LAB_DEMO_USER = EMBEDDED_MODE
LAB_ALLOW_SIGNUP = env.bool("LAB_ALLOW_SIGNUP", default=EMBEDDED_MODE)
# "celery" (Redis present), "thread" (embedded in-process worker), "manual" (tests: leave queued)
LAB_EXECUTOR = env.str("LAB_EXECUTOR", default="thread" if EMBEDDED_MODE else "celery")
LAB_EXPECT_GPU_WORKER = env.bool("LAB_GPU_WORKER", default=False)
# the unreadable-text guard (services/readability.py): above this share of a task's input words
# becoming the model's unknown token, launching needs an explicit confirmation
LAB_UNREADABLE_THRESHOLD = env.float("LAB_UNREADABLE_THRESHOLD", default=0.05)
# local copies of the benchmark presets' datasets in the hub's layout (<dir>/<dataset id>/),
# read instead of the hub when present (services/presets.py)
LAB_DATASETS_DIR = env.str("LAB_DATASETS_DIR", default=str(VAR_DIR / "datasets"))
LAB_HEARTBEAT_TIMEOUT = env.int("LAB_HEARTBEAT_TIMEOUT", default=30)
# seconds between passes of the periodic reaper (services/reaper.py: Celery beat in Redis
# mode, a thread in embedded mode; 0 = off)
LAB_REAPER_INTERVAL = env.float("LAB_REAPER_INTERVAL", default=10.0)
# a run whose worker died is queued again (or re-claimed by its redelivered job) until it has
# been started this many times, then failed (lifecycle.worker_lost, docs/web.md "Faults")
LAB_MAX_ATTEMPTS = env.int("LAB_MAX_ATTEMPTS", default=2)
# the CPU priority a Celery worker lowers itself by (nice; 0: unchanged), so that on a machine
# shared with the web server the pages come first (webapp/celery_app.lower_priority)
LAB_WORKER_NICE = env.int("LAB_WORKER_NICE", default=10)
# the periodic sweep sends queued runs committed more than this many seconds ago and never
# sent (the launching process died between commit and send); see services/dispatch.py
LAB_DISPATCH_GRACE = env.float("LAB_DISPATCH_GRACE", default=15.0)
# Redis mode: a queued run sent this many seconds ago and still not claimed is sent again
# by the periodic pass (the broker lost the message, e.g. Redis restarted empty); a duplicate
# delivery is harmless, lifecycle.claim only starts a queued run (services/dispatch.py)
LAB_DISPATCH_LEASE = env.float("LAB_DISPATCH_LEASE", default=180.0)
# HTTP worker processes in Redis mode (uvicorn --workers); embedded mode always serves
# with one uvicorn process (the in-memory channel layer and the worker thread live in it)
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=max(2, os.cpu_count() or 1))
# requests per web process that run Django code at the same time (the rest wait their turn
# in the event loop; 0 = no limit), see webapp/asgi.py
WEB_THREADS = env.int("WEB_THREADS", default=4)
LAB_EVENT_MIN_INTERVAL = env.float("LAB_EVENT_MIN_INTERVAL", default=0.5)
LAB_MAX_CHART_POINTS = 2000
# Quotas, each with a clear message when reached
LAB_MAX_UPLOAD_BYTES = env.int("LAB_MAX_UPLOAD_MB", default=20) * 2**20  # checked while the file streams in
# request bodies, checked by the ASGI layer before Django reads (and spools) them
# (webapp/lab/body_limits.py): anonymous requests (sign-in, sign-up forms) and signed-in ones
# (an upload of LAB_MAX_UPLOAD_BYTES with its form around it)
LAB_MAX_ANONYMOUS_BODY_BYTES = env.int("LAB_MAX_ANONYMOUS_BODY_KB", default=256) * 1024
LAB_MAX_BODY_BYTES = LAB_MAX_UPLOAD_BYTES + env.int("LAB_BODY_OVERHEAD_KB", default=1024) * 1024
# the REST API's rate limit per token (webapp/api/throttling.py): requests per window, then 429
LAB_API_RATE_LIMIT = env.int("LAB_API_RATE_LIMIT", default=600)
LAB_API_RATE_WINDOW = env.float("LAB_API_RATE_WINDOW", default=60.0)
LAB_MAX_EXAMPLES_PER_TASK = env.int("LAB_MAX_EXAMPLES_PER_TASK", default=200_000)
LAB_MAX_RUNS_PER_EXPERIMENT = env.int("LAB_MAX_RUNS_PER_EXPERIMENT", default=500)
LAB_MAX_QUEUED_RUNS_PER_USER = env.int("LAB_MAX_QUEUED_RUNS_PER_USER", default=2000)
# teams a user may create (the personal space not counted); live share links a user may hold
LAB_MAX_TEAMS_PER_USER = env.int("LAB_MAX_TEAMS_PER_USER", default=50)
LAB_MAX_SHARE_LINKS_PER_USER = env.int("LAB_MAX_SHARE_LINKS_PER_USER", default=200)
# artifact files no run records (lab/services/artifacts.py): the periodic pass removes those
# older than the grace period, at most once per sweep interval (seconds; 0 = never)
LAB_ARTIFACT_GRACE = env.int("LAB_ARTIFACT_GRACE", default=3600)
LAB_ARTIFACT_SWEEP_INTERVAL = env.int("LAB_ARTIFACT_SWEEP_INTERVAL", default=600)
FILE_UPLOAD_HANDLERS = [
    "webapp.lab.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]


def redis_channel_layer(url):
    """channels_redis on `url`. The socket read timeout must outlast channels_redis's 5 s
    blocking BZPOPMIN: redis-py 8 defaults it to 5 s, which made every idle websocket
    consumer crash (close 1011) after ~5 s (django/channels_redis#422)."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 5}]},
    }


if EMBEDDED_MODE:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}

# Derived payloads (results.json, per-example tables, a finished experiment's history and
# runs-table rows) are cached under keys that change with Experiment.results_version, a task's pages of
# examples under Task.examples_version (webapp/lab/fragments.py). Redis mode shares one cache between the
# web processes; embedded mode has one process, so local memory is enough.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 6 * 3600,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1,
                        "pool_class": "webapp.lab.services.cache.SharedConnectionPool"},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "TIMEOUT": 6 * 3600,
            "OPTIONS": {"MAX_ENTRIES": 500},
        }
    }

# sessions are read from that cache and written through to the database (webapp/lab/sessions.py):
# a page costs one query less, and a flushed or unreachable cache loses no session
SESSION_ENGINE = "webapp.lab.sessions"

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_share_tokens": {"()": "webapp.teams.logging.RedactShareTokens"},
                "no_traceback_for_refusals": {"()": "webapp.teams.logging.NoTracebackForRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_share_tokens"]}},
    "loggers": {
        "webapp": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        # every 500 with its traceback, on the server only (Django logs it here; without a
        # handler it went nowhere when DEBUG is off)
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": True,
                           "filters": ["no_traceback_for_refusals", "redact_share_tokens"]},
        # request paths may hold a share token (/s/<token>/): redacted before any handler sees them
        **{name: {"filters": ["redact_share_tokens"]} for name in (
            "django.server", "daphne", "uvicorn.access", "uvicorn.error")},
    },
}
