"""Settings, read from the environment.

Every variable is listed in README.md, in the order it is read here, with its
embedded default. The defaults need nothing installed: SQLite in a local `var/`
folder, and (through `make run`) a Redis the launcher starts itself.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def envbool(name: str, default: str) -> bool:
    # Only true/false words: a typo such as DEBUG=maybe must stop start-up,
    # not silently pick a side.
    raw = os.environ.get(name, default).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {raw!r})")


def envint(name: str, default: str) -> int:
    raw = os.environ.get(name, default).strip()
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {raw!r})") from None


def envfloat(name: str, default: str) -> float:
    raw = os.environ.get(name, default).strip()
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r})") from None


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envsecret(name: str) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/K8s secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e}") from None
    return os.environ.get(name, "").strip()


def _local_secret(path: Path, make: callable) -> str:
    # Development only: a secret generated once and kept in var/ (git ignores
    # var/), so restarts keep sessions and stored API keys readable.
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


DEBUG = envbool("DEBUG", "true")
DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "var")))

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = _local_secret(DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50))

# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
FERNET_KEYS = [k.strip() for k in envsecret("FERNET_KEYS").split(",") if k.strip()]
if not FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FERNET_KEYS must be set when DEBUG is false: it encrypts the stored "
            "Scale API keys (make one with: python -c 'from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())')"
        )
    FERNET_KEYS = [_local_secret(DATA_DIR / "fernet_key", _new_fernet_key)]

ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]
# Where people and Scale reach this site: used for callback URLs and email links.
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = "annotator"

DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except Exception as e:  # dj-database-url raises several types for junk URLs
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {e}") from None
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "annotator.sqlite3",
            # A file, not :memory:, so worker subprocesses in tests see the test DB.
            "TEST": {"NAME": str(DATA_DIR / "test-annotator.sqlite3")},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait (busy
    # timeout) instead of failing with "database is locked"; WAL lets readers run
    # beside the one writer. Applied to a sqlite:/// DATABASE_URL too (worker
    # subprocesses in tests use one): dj-database-url knows none of these options.
    DATABASES["default"].setdefault("TEST", {"NAME": str(DATA_DIR / "test-annotator.sqlite3")})
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

REDIS_URL = envstr("REDIS_URL")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "annotator.accounts",
    "annotator.tasks",
    "annotator.composer",
    "annotator.submission",
    "annotator.exports",
]

SANDBOX_ENABLED = envbool("SANDBOX_ENABLED", "true")
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("annotator.sandbox")
# Seconds a sandbox task stays pending before it completes (docs/sandbox.md).
SANDBOX_COMPLETE_AFTER = envfloat("SANDBOX_COMPLETE_AFTER", "5")
# Scale's test keys: tasks made with a test_… (or …|test) key complete at once, as the
# SDK's own tests expect. Off by default so the demo shows tasks pending for a while.
SANDBOX_INSTANT_TEST_KEYS = envbool("SANDBOX_INSTANT_TEST_KEYS", "false")
# Fault injection for every sandbox create, e.g. "latency_ms=300,error_500=0.1,seed=7";
# checked at start-up by the sandbox app; the X-Sandbox-Faults header overrides it per key.
SANDBOX_FAULTS = envstr("SANDBOX_FAULTS", "")
# Multiplies the sandbox's callback retry schedule (about 24 h over 20 attempts at 1).
SANDBOX_CALLBACK_RETRY_SCALE = envfloat("SANDBOX_CALLBACK_RETRY_SCALE", "1")
SANDBOX_CALLBACK_TIMEOUT = envfloat("SANDBOX_CALLBACK_TIMEOUT", "10")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, which reads the form: uploads are bounded while they are read.
    "annotator.submission.uploads.upload_limit",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "annotator.accounts.middleware.content_security_policy",
    "annotator.accounts.middleware.current_workspace",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

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
                "annotator.accounts.context_processors.workspace",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed sign-ins allowed per account and per address; then sign-in pauses for
# LOGIN_BACKOFF_BASE seconds, doubling with each further failure up to
# LOGIN_FAILURE_WINDOW (annotator/accounts/throttle.py). Counts are forgotten after
# a quiet window.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
LOGIN_FAILURE_WINDOW = envint("LOGIN_FAILURE_WINDOW", "900")
LOGIN_BACKOFF_BASE = envfloat("LOGIN_BACKOFF_BASE", "60")
# Proxies in front of the web processes that append the client's address to
# X-Forwarded-For (a load balancer: 1). 0 trusts no header: REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", "0")

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Callback bodies of up to 10 MB are accepted (Scale's segmentation responses
# can be large); the form-field guard stays at Django's default.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024


def _with_db(url: str, db: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


# Seconds the cache and the broker get to answer: a Redis outage costs a page
# about this much once, never a 500 (annotator/cache.py; the Celery settings below).
REDIS_TIMEOUT = envfloat("REDIS_TIMEOUT", "1")


def redis_cache(url: str) -> dict:
    """The cache on Redis; while Redis does not answer, each process serves it from memory."""
    options = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT, "RETRY_AFTER": 5}
    return {"BACKEND": "annotator.cache.ResilientRedisCache", "LOCATION": url, "OPTIONS": options}


# The cache gets its own Redis database (1 by default) so clearing it can never
# touch the broker's queues.
CACHE_URL = envstr("CACHE_URL", _with_db(REDIS_URL, 1) if REDIS_URL else "")
if CACHE_URL:
    CACHES = {"default": redis_cache(CACHE_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A job is acknowledged only when it has finished, and put back when the worker
# running it dies, so a killed worker never loses a submission; every job is
# idempotent (it claims its row), so a second run is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis redelivers an unacknowledged message after this long. It must exceed
# the longest job and the longest countdown (retry backoff is capped well below).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "3600"),
    # A broker that does not accept the connection, or accepts and never answers
    # (stopped, swapping, a half-open connection), fails the publish instead of
    # holding it forever. Reads stay above kombu's 1 s BRPOP wait, as its docs ask.
    "socket_connect_timeout": REDIS_TIMEOUT,
    "socket_timeout": max(2 * REDIS_TIMEOUT, 2.0),
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
# Publishing a job retries once, then gives up: the row it is about is saved,
# and a periodic sweep sends it later. Jobs queued after a commit never raise into
# the request (annotator.celery.Task), so a broker outage is never a 500.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# One queue per kind of work so a flood of submissions cannot starve callbacks
# or email. Jobs declare their queue in their decorator.
CELERY_QUEUES_ALL = ["default", "submission", "callbacks", "email", "sandbox"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a job prints (the console email backend of `make run`) is shown as printed,
# not as a "WARNING celery.redirected" log line per line of the email.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}


def _every(task: str, seconds: float) -> dict:
    """A beat entry for a periodic pass. A tick that could not run before the next
    one is due expires: the next one does the same work."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds}}


if SANDBOX_ENABLED:
    # Finishes sandbox tasks whose completion job was lost, and re-sends stuck callbacks.
    CELERY_BEAT_SCHEDULE["sweep-sandbox"] = _every("annotator.sweep_sandbox", 30.0)

# --- Email ------------------------------------------------------------------
EMAIL_HOST = envstr("EMAIL_HOST")
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "annotator <annotator@localhost>")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

# --- Scale ------------------------------------------------------------------
SCALE_API_BASE_URL = envstr("SCALE_API_BASE_URL", "https://api.scale.com/v1").rstrip("/")

# --- Outbound requests and served files (annotator/fetcher.py, docs/security.md) ---
# URL prefixes on private addresses the server may still reach (e.g. an internal file store),
# comma-separated, e.g. "http://10.0.0.5:9000/results/"; the sandbox's own files and this
# site's callback URLs are added by the code. Workspace owners cannot add any.
FETCH_TRUSTED_URLS = [u.strip() for u in envstr("FETCH_TRUSTED_URLS").split(",") if u.strip()]
# The composer's image proxy: total seconds per fetch, bytes per image, and per person how
# many fetches at once and per minute (more answer 429).
MEDIA_PROXY_TIMEOUT = envfloat("MEDIA_PROXY_TIMEOUT", "5")
MEDIA_PROXY_MAX_BYTES = envint("MEDIA_PROXY_MAX_BYTES", str(5 * 1024 * 1024))
MEDIA_PROXY_CONCURRENT = envint("MEDIA_PROXY_CONCURRENT", "3")
MEDIA_PROXY_PER_MINUTE = envint("MEDIA_PROXY_PER_MINUTE", "60")
# ...and how many fetches one web process runs at once, whoever asks: keep it below the
# threads per process (gunicorn --threads) so pages and sign-in always have one.
MEDIA_PROXY_PER_PROCESS = envint("MEDIA_PROXY_PER_PROCESS", "2")
# The composer's media checks (video length and size, frame sizes): total seconds per medium,
# the most bytes of an MP4's header (moov) read, and how long a result is kept per URL.
MEDIA_CHECK_TIMEOUT = envfloat("MEDIA_CHECK_TIMEOUT", "10")
MEDIA_CHECK_MAX_BYTES = envint("MEDIA_CHECK_MAX_BYTES", str(4 * 1024 * 1024))
MEDIA_CHECK_CACHE_SECONDS = envint("MEDIA_CHECK_CACHE_SECONDS", "300")
# Result copies per task: files, bytes in all, and seconds for the whole copy.
RESULT_MAX_FILES = envint("RESULT_MAX_FILES", "100")
RESULT_MAX_BYTES = envint("RESULT_MAX_BYTES", str(200 * 1024 * 1024))
RESULT_COPY_TIMEOUT = envfloat("RESULT_COPY_TIMEOUT", "60")
# Largest image (width x height) any image is decoded at: Pillow's MAX_IMAGE_PIXELS.
IMAGE_MAX_PIXELS = envint("IMAGE_MAX_PIXELS", "40000000")

# --- Submission (annotator/submission/, docs/submission.md) -------------------
# Timeouts of every call to Scale, in seconds: connecting, then waiting for an answer.
SUBMIT_CONNECT_TIMEOUT = envfloat("SUBMIT_CONNECT_TIMEOUT", "5")
SUBMIT_READ_TIMEOUT = envfloat("SUBMIT_READ_TIMEOUT", "30")
# Attempts per task (temporary errors only), then the task is FAILED with the reason.
SUBMIT_MAX_ATTEMPTS = envint("SUBMIT_MAX_ATTEMPTS", "8")
# Exponential backoff with full jitter: a random wait up to base * 2^(attempt-1), at most cap.
SUBMIT_BACKOFF_BASE = envfloat("SUBMIT_BACKOFF_BASE", "1")
SUBMIT_BACKOFF_CAP = envfloat("SUBMIT_BACKOFF_CAP", "60")
# A claim older than this is presumed dead (its worker was killed) and is taken
# over. It must exceed the longest attempt: rate wait + connect + read timeouts.
SUBMIT_CLAIM_TIMEOUT = envfloat("SUBMIT_CLAIM_TIMEOUT", "120")
# The sweeper runs this often (seconds) and re-enqueues queued rows left alone
# longer than SUBMIT_SWEEP_AFTER (their broker message was lost).
SUBMIT_SWEEP_INTERVAL = envfloat("SUBMIT_SWEEP_INTERVAL", "30")
SUBMIT_SWEEP_AFTER = envfloat("SUBMIT_SWEEP_AFTER", "120")
# Rate limit (Workspace.rate_limit_per_second) burst, and how long a job may
# wait in place for its slot before it gives the slot up and is rescheduled.
SUBMIT_RATE_BURST = envint("SUBMIT_RATE_BURST", "1")
SUBMIT_RATE_MAX_WAIT = envfloat("SUBMIT_RATE_MAX_WAIT", "5")
# Rows a bulk upload may hold.
SUBMIT_MAX_ROWS = envint("SUBMIT_MAX_ROWS", "20000")
# Bytes one uploaded file may hold (annotator/submission/uploads.py drops the rest
# while the body is read), and seconds a dry-run upload is kept for its go-ahead.
SUBMIT_MAX_UPLOAD_BYTES = envint("SUBMIT_MAX_UPLOAD_BYTES", str(50 * 1000 * 1000))
SUBMIT_UPLOAD_TTL = envint("SUBMIT_UPLOAD_TTL", "86400")
CELERY_BEAT_SCHEDULE["sweep-submissions"] = _every("annotator.sweep_submissions", SUBMIT_SWEEP_INTERVAL)

# --- Callbacks and the reconciler (annotator/tasks/) ---------------------------
# A pending task with no news (callback) for RECONCILE_AFTER seconds is read back
# from Scale; the reconciler runs every RECONCILE_INTERVAL seconds and checks at
# most RECONCILE_BATCH tasks per run.
RECONCILE_INTERVAL = envfloat("RECONCILE_INTERVAL", "300")
RECONCILE_AFTER = envint("RECONCILE_AFTER", "900")
RECONCILE_BATCH = envint("RECONCILE_BATCH", "200")
# Seconds a callback's updated_at may be ahead of this server's clock; later is
# refused (400), so a forged or broken date cannot make every real update stale.
CALLBACK_MAX_CLOCK_SKEW = envint("CALLBACK_MAX_CLOCK_SKEW", "3600")
CELERY_BEAT_SCHEDULE["reconcile-tasks"] = _every("annotator.reconcile_tasks", RECONCILE_INTERVAL)
# Digest emails go out from this pass, every DIGEST_INTERVAL seconds; it also
# re-sends emails whose job was lost.
DIGEST_INTERVAL = envfloat("DIGEST_INTERVAL", "60")
CELERY_BEAT_SCHEDULE["send-digests"] = _every("annotator.send_digests", DIGEST_INTERVAL)
# The same pass sends the summary of each bulk run that has finished (safety net).
CELERY_BEAT_SCHEDULE["send-run-summaries"] = _every("annotator.send_due_run_summaries", DIGEST_INTERVAL)
# Exports (docs/exports.md): the person who asked is emailed a link when the
# selection has at least EXPORT_EMAIL_TASKS tasks or the zip at least EXPORT_EMAIL_BYTES.
EXPORT_EMAIL_TASKS = envint("EXPORT_EMAIL_TASKS", "1000")
EXPORT_EMAIL_BYTES = envint("EXPORT_EMAIL_BYTES", str(100 * 1024 * 1024))
# Zips older than this many days are deleted (hourly pass); the export's page says so.
EXPORT_KEEP_DAYS = envint("EXPORT_KEEP_DAYS", "7")
CELERY_BEAT_SCHEDULE["delete-old-exports"] = _every("annotator.delete_old_exports", 3600.0)

# --- Inbound input limits (docs/security.md, "Inbound input") -----------------
# Bytes one composer request (preview, validate, submit, import) may carry. The
# preview's cost is linear in its size (the JSON and Python snippets); this bounds
# it. Scale documents no payload limit: raise it if your tasks are larger.
COMPOSER_MAX_BYTES = envint("COMPOSER_MAX_BYTES", str(256 * 1024))

# --- Production hardening (only when DEBUG is false) ------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "true")
    if envbool("SECURE_PROXY_SSL_HEADER", "false"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # One line per job (its result, from celery.app.trace) is enough: not also one when it is received.
    "loggers": {"celery.worker.strategy": {"level": "WARNING"}},
}
