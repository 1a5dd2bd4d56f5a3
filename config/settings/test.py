from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
GATEWAY_API_KEY = "sk-test-secret-key"
if DEMO_GATEWAY:  # noqa: F405
    # No demo gateway runs on DEMO_GATEWAY_PORT during tests; the `demo_gateway` fixture
    # starts one on a free port and points settings at it.
    GATEWAY_BASE_URL = ""
STREAM_FLUSH_MS = 40

if DATABASE_URL:  # noqa: F405
    # Worker threads of database_sync_to_async would otherwise keep sessions open and stop
    # pytest-django from dropping the PostgreSQL test database at the end.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
