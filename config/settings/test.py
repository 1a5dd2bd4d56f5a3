import os
import uuid

# Another process on the same Redis (a dev server, a `runworker`, another run of the suite)
# must not take this run's channel messages or see its cache: the run has its own prefix, and
# the processes a test starts inherit it through the environment.
# Under pytest-xdist each worker process is a run of its own (its own test database already).
_prefix = os.environ.setdefault("PARLOR_REDIS_PREFIX", f"test-{uuid.uuid4().hex[:12]}")
if (_worker := os.environ.get("PYTEST_XDIST_WORKER")) and not _prefix.endswith(f"-{_worker}"):
    os.environ["PARLOR_REDIS_PREFIX"] = f"{_prefix}-{_worker}"

from config.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
GATEWAY_API_KEY = "sk-test-secret-key"
if DEMO_GATEWAY:  # noqa: F405
    # No demo gateway runs on DEMO_GATEWAY_PORT during tests; the `demo_gateway` fixture
    # starts one on a free port and points settings at it.
    GATEWAY_BASE_URL = ""
STREAM_FLUSH_MS = 40
# No title requests after first replies (chat.titles) unless a test asks for them: they would
# be one more gateway request and usage record after every first reply of every other test.
TITLE_MODEL = env_str("TITLE_MODEL", "off")  # noqa: F405

if DATABASE_URL:  # noqa: F405
    # Worker threads of database_sync_to_async would otherwise keep sessions open and stop
    # pytest-django from dropping the PostgreSQL test database at the end.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    # A lock nobody releases (a connection left in a transaction) fails the test that waits for
    # it, with PostgreSQL's message, instead of hanging the run.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c lock_timeout=60000"  # noqa: F405
