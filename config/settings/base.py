"""Parlor settings. Everything an operator may change is read from the environment
through `config.env`; `.env.example` lists every variable."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.utils.translation import gettext_lazy as _

from config.env import (
    ConfigError,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    load_dotenv,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
load_dotenv(BASE_DIR / ".env")

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into the data directory."""
    key = env_secret("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Write a private temp file, then link it into place: processes starting together
        # agree on the first key published, and nobody ever reads a half-written one.
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=DATA_DIR, prefix=".secret_key.")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()

# One public URL fills allowed hosts, CSRF and websocket origins.
PUBLIC_URL = env_str("PUBLIC_URL").rstrip("/")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS: list[str] = []
if PUBLIC_URL:
    _public = urlsplit(PUBLIC_URL)
    if _public.scheme not in ("http", "https") or not _public.hostname:
        raise ConfigError(f"PUBLIC_URL must look like https://chat.example.com, not {PUBLIC_URL!r}")
    ALLOWED_HOSTS.append(_public.hostname)
    CSRF_TRUSTED_ORIGINS.append(f"{_public.scheme}://{_public.netloc}")
ALLOWED_HOSTS += env_list("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Before channels: its `runworker` (config/management/commands) replaces channels' own.
    "config",
    "channels",
    "django_htmx",
    "template_partials",
    "accounts",
    "chat",
    "media_jobs",
    "usage",
    "voice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "config.middleware.NoStoreForSignedInMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.FirstRunMiddleware",
    "accounts.middleware.CurrentTeamMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "django.template.context_processors.i18n",
                "config.context_processors.parlor",
            ],
        },
    },
]

# Database: SQLite (WAL) in the data directory, or DATABASE_URL (PostgreSQL) in scale mode.
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "parlor.sqlite3"),
            # Reopening a WAL database per call cost 16% of relay CPU (benchmarks/).
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer and cache: in memory, or Redis in scale mode.
REDIS_URL = env_secret("REDIS_URL")
# Names of Parlor's keys in Redis: two sites (or a site and a test run) can share one Redis.
REDIS_PREFIX = env_str("REDIS_PREFIX", "parlor") or "parlor"
if REDIS_URL:
    from config import redis_connection

    REDIS_SOCKET_TIMEOUT = 30
    REDIS_MAX_CONNECTIONS = 1000  # per process; Redis's own maxclients is 10,000
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis waits for messages with BZPOPMIN for up to 5 s, and redis-py's
            # default socket timeout is also 5 s: on a busy event loop the read times out and
            # the socket's consumer dies (a 1011 close). Give the read room beyond the wait.
            "CONFIG": {
                # redis-py 8 caps a pool at 100 connections and raises past it (no waiting):
                # a burst of 150 sends took 36 sockets down with MaxConnectionsError
                # (benchmarks/README.md). One connection per channel-layer call in flight.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": REDIS_SOCKET_TIMEOUT,
                        "max_connections": REDIS_MAX_CONNECTIONS,
                        # Never loses a cancellation on Python 3.11 (config/redis_connection.py).
                        "connection_class": redis_connection.connection_class(REDIS_URL),
                    }
                ],
                "prefix": REDIS_PREFIX,
            },
        }
    }
    CACHES = {
        "default": {
            # Its clear() leaves the channel layer's keys alone (config/cache.py).
            "BACKEND": "config.cache.PrefixedRedisCache",
            "LOCATION": REDIS_URL,
            # Apart from the channel layer's "<prefix>:group:…" and "<prefix><channel>" keys.
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "accounts:login"
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10)  # failed attempts per 15 minutes
INVITE_TTL_HOURS = env_int("INVITE_TTL_HOURS", 72)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Static files are served by WhiteNoise straight from the finders: no collectstatic step.
STATIC_ROOT = None
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

# Cookies and transport security. Secure cookies follow the public URL's scheme, so a
# plain http://127.0.0.1 trial still works while an https deployment gets them.
_https = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https and not DEBUG
CSRF_COOKIE_SECURE = _https and not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a reverse proxy: trust its X-Forwarded-Proto and the client address it appends
# to X-Forwarded-For (the login rate limit keys on it).
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY", False)
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# An https:// PUBLIC_URL: browsers are told to use https only (a year by default; 0 turns it
# off), and behind the proxy plain-http requests are redirected (except /health/, which
# probes may call on the inside).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _https and not DEBUG else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_SSL_REDIRECT = _https and BEHIND_HTTPS_PROXY and not DEBUG
SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# The upstream gateway. No URL means: use the built-in demo gateway, which `manage.py serve`
# starts on DEMO_GATEWAY_PORT; its address is decided here, once, so every module and every
# process of the installation sees the same value from the start.
GATEWAY_BASE_URL = env_str("GATEWAY_BASE_URL")
GATEWAY_API_KEY = env_secret("GATEWAY_API_KEY")
DEMO_GATEWAY = not GATEWAY_BASE_URL
DEMO_GATEWAY_PORT = env_int("DEMO_GATEWAY_PORT", 8765)
# Families the demo gateway answers as a gateway without them (gateway.probe's names), to try
# how Parlor hides what a gateway does not serve: "images,luma".
DEMO_GATEWAY_WITHOUT = env_list("DEMO_GATEWAY_WITHOUT")
# Seconds between the demo gateway's streamed tokens (a default reply is ~270 tokens).
DEMO_GATEWAY_TOKEN_DELAY = env_float("DEMO_GATEWAY_TOKEN_DELAY", 0.03)
if not 0 <= DEMO_GATEWAY_TOKEN_DELAY <= 1:
    raise ConfigError(
        f"DEMO_GATEWAY_TOKEN_DELAY must be between 0 and 1 seconds, not {DEMO_GATEWAY_TOKEN_DELAY}"
    )
if not 0 < DEMO_GATEWAY_PORT < 65536:
    raise ConfigError(f"DEMO_GATEWAY_PORT must be a port number, not {DEMO_GATEWAY_PORT}")
if DEMO_GATEWAY:
    GATEWAY_BASE_URL = f"http://127.0.0.1:{DEMO_GATEWAY_PORT}"
    GATEWAY_API_KEY = GATEWAY_API_KEY or "sk-demo"
GATEWAY_CONNECT_TIMEOUT = env_float("GATEWAY_CONNECT_TIMEOUT", 10.0)
GATEWAY_READ_TIMEOUT = env_float("GATEWAY_READ_TIMEOUT", 300.0)
GATEWAY_MODELS_CACHE_SECONDS = env_int("GATEWAY_MODELS_CACHE_SECONDS", 300)
# The most bytes of one gateway answer Parlor reads (a task list, a models list, an images
# answer with its pictures inline); a bigger answer is refused, never parsed. Result files
# have their own cap (MEDIA_MAX_DOWNLOAD_MB).
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 32 * 1024 * 1024)
# GPTs (gpt-4-gizmo-<g-id>) are offered when the gateway lists any; with this, also when it
# lists none but accepts ids it does not list.
GATEWAY_ACCEPTS_UNLISTED_GIZMOS = env_bool("GATEWAY_ACCEPTS_UNLISTED_GIZMOS", False)
# Which Suno API the gateway speaks: "newapi" (/suno/submit/...) or "goamz" (/suno/v1/music).
SUNO_API_FORMAT = env_str("SUNO_API_FORMAT", "newapi").lower()
if SUNO_API_FORMAT not in ("newapi", "goamz"):
    raise ConfigError(f"SUNO_API_FORMAT must be newapi or goamz, not {SUNO_API_FORMAT!r}")

DEFAULT_MODEL = env_str("DEFAULT_MODEL", "gpt-4o-mini")
# Search by meaning (chat.search, chat.embedding_worker): the model messages are embedded
# with (changing it re-embeds every message) and the width asked of models that shorten
# their vectors (text-embedding-3-*; 0: the model's own).
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "text-embedding-3-small")
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 512)
# Titles written by a model once a conversation's first reply is in (chat.titles): the model
# asked ("" = the conversation's own, "off" = never ask), and what a title may cost at most
# when it is the conversation's own model (more: the first line stays the title).
TITLE_MODEL = env_str("TITLE_MODEL", "")
TITLE_MAX_COST = env_float("TITLE_MAX_COST", 0.01)
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 32000)
# Images attached to a message (chat.vision): the largest file taken (MB, before it is scaled
# down) and how many one message may carry.
ATTACHMENT_MAX_MB = env_float("ATTACHMENT_MAX_MB", 20.0)
ATTACHMENT_MAX_FILES = env_int("ATTACHMENT_MAX_FILES", 10)
# Money (usage/): the one currency budgets and prices are in, and the price of a model that
# has none of its own (per 1K tokens and per media action), flagged on the usage page.
USAGE_CURRENCY = env_str("USAGE_CURRENCY", "USD")
# Replies one user may have being written at once, across all conversations and processes
# (0: no limit). Enforced in chat.services.begin_reply.
MAX_CONCURRENT_REPLIES = env_int("MAX_CONCURRENT_REPLIES", 3)
# Streaming: coalescing window for token fragments and the checkpoint interval.
STREAM_FLUSH_MS = env_int("STREAM_FLUSH_MS", 40)
STREAM_CHECKPOINT_SECONDS = env_int("STREAM_CHECKPOINT_SECONDS", 5)
# Request bodies (config.bodylimit): the most bytes any request may carry, refused with a
# 413 before Django reads it (the voice-recording and chat-attachment routes take their own
# larger uploads). Django's caps: a plain form field may hold a mask's data URL (4 MB of
# text), and uploads bigger than FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to disk.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 32 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Media jobs: the largest result file copied into storage (MB); how many jobs one poller
# pass claims at most (media_jobs.poller); minutes without progress after which an active
# job counts as stuck and is offered Cancel and Retry (MediaJob.is_stuck).
MEDIA_MAX_DOWNLOAD_MB = env_float("MEDIA_MAX_DOWNLOAD_MB", 200.0)
# One deadline for a whole result download, redirects included.
MEDIA_DOWNLOAD_SECONDS = env_float("MEDIA_DOWNLOAD_SECONDS", 300.0)
MEDIA_POLL_BATCH = env_int("MEDIA_POLL_BATCH", 200)
# What one job may store (files and bytes; beyond it results stay upstream links), and how
# many jobs' results one process copies at once, beside its polling.
MEDIA_MAX_FILES_PER_JOB = env_int("MEDIA_MAX_FILES_PER_JOB", 8)
MEDIA_MAX_BYTES_PER_JOB = env_int("MEDIA_MAX_BYTES_PER_JOB", 400 * 1024 * 1024)
MEDIA_DOWNLOAD_WORKERS = env_int("MEDIA_DOWNLOAD_WORKERS", 4)
# Jobs one member may have queued or running at once, in a team (0: no limit).
MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER = env_int("MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER", 6)
# The bytes of pictures (reference images, frames, masks) one member's jobs in progress may
# hold at once, in a team (0: no limit).
MEDIA_MAX_UPLOAD_BYTES_PER_MEMBER = env_int("MEDIA_MAX_UPLOAD_BYTES_PER_MEMBER", 100 * 1024 * 1024)
MEDIA_STUCK_MINUTES = env_int("MEDIA_STUCK_MINUTES", 5)
# Image generation (/image, the Studio's Image tool): the model and size preselected.
IMAGE_DEFAULT_MODEL = env_str("IMAGE_DEFAULT_MODEL", "dall-e-3")
IMAGE_DEFAULT_SIZE = env_str("IMAGE_DEFAULT_SIZE", "1024x1024")
# Voice input and audio translation (voice/): the largest recording or audio file accepted
# (MB), the gateway's limit per request (MB) and the longest piece sent in one request
# (minutes); longer or larger audio is re-encoded and split. The speech-to-text model.
AUDIO_UPLOAD_MAX_MB = env_float("AUDIO_UPLOAD_MAX_MB", 100.0)
AUDIO_GATEWAY_MAX_MB = env_float("AUDIO_GATEWAY_MAX_MB", 25.0)
AUDIO_MAX_MINUTES = env_float("AUDIO_MAX_MINUTES", 10.0)
TRANSCRIPTION_MODEL = env_str("TRANSCRIPTION_MODEL", "whisper-1")
# Read aloud (chat.speech): the text-to-speech model and audio format; the most UTF-8 bytes
# one request may carry (one-api refuses more than 4,096) and the smaller first part, whose
# audio comes back sooner.
SPEECH_MODEL = env_str("SPEECH_MODEL", "tts-1")
SPEECH_FORMAT = env_str("SPEECH_FORMAT", "mp3").lower()
if SPEECH_FORMAT not in ("mp3", "opus", "aac", "flac", "wav"):
    raise ConfigError(f"SPEECH_FORMAT must be mp3, opus, aac, flac or wav, not {SPEECH_FORMAT!r}")
SPEECH_MAX_BYTES = env_int("SPEECH_MAX_BYTES", 4000)
if not 16 <= SPEECH_MAX_BYTES <= 4096:
    raise ConfigError(f"SPEECH_MAX_BYTES must be between 16 and 4096, not {SPEECH_MAX_BYTES}")
SPEECH_FIRST_PART_BYTES = env_int("SPEECH_FIRST_PART_BYTES", 600)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No log line carries the gateway's key, whoever logged it (gateway.redact).
    "filters": {"redact_key": {"()": "gateway.redact.RedactKey"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_key"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": LOG_LEVEL},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
