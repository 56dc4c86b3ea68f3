"""Settings shared by every environment. Secrets are never defaults here.

Every secret goes through ``SECRETS`` (soc2kit.secrets.loader): the environment by default, or AWS
Secrets Manager with DJANGO_SECRETS_BACKEND=aws. production.py then refuses missing or placeholder
values; see app/README.md for the variables.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from soc2kit.secrets.loader import secret_source_from_environment
from soc2kit.settings import field_encryption_settings

APP_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
SECRETS = secret_source_from_environment()

DEBUG = False
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "axes",
    "soc2kit.encryption",
    "soc2kit.observability",
    "soc2kit.audit",
    "soc2kit.accounts",
    "demo.accounts",
    "demo.customers",
    "soc2kit.health",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "soc2kit.observability.middleware.PermissionsPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the response of the login views (lockout -> 429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(APP_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out clients before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # kept so older hashes verify and get upgraded
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/admin/"

# Brute-force lockout (django-axes), keyed on the client address resolved by our own function,
# which trusts X-Forwarded-For only from DJANGO_TRUSTED_PROXIES.
TRUSTED_PROXIES: list[str] = env.list("DJANGO_TRUSTED_PROXIES", default=["127.0.0.1", "::1", "unix"])
AXES_CLIENT_IP_CALLABLE = "soc2kit.accounts.client_ip.get_lockout_key"  # IPv6: one budget per /64
AXES_LOCKOUT_PARAMETERS = ["ip_address"]  # one address spraying many usernames is stopped too
AXES_FAILURE_LIMIT = env.int("DJANGO_AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DJANGO_AXES_COOLOFF_MINUTES", default=30))
# Not True: with ip_address lockout it would clear the whole address's failures on any successful
# login, the attacker's own included. soc2kit.accounts.axes clears only the account's own failures instead.
AXES_RESET_ON_SUCCESS = False
# Attempt tables and lockout records hold an unknown username only as a keyed hash (accounts.usernames).
AXES_USERNAME_CALLABLE = "soc2kit.accounts.usernames.axes_username"
AXES_LOCKOUT_CALLABLE = "soc2kit.accounts.axes.lockout_response"
AXES_ENABLE_ADMIN = True

# --- Shared cache: PostgreSQL, so that counters (the customer search rate limit) are shared by every
# gunicorn worker and app host; a per-process LocMem cache would count per worker. Its table is
# created by the customers app's migrations.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "soc2kit_cache",
    }
}


def _positive_env_int(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name}={value}: use a whole number of at least 1.")
    return value


# Exact-match customer search (POST /api/customers/search/): searches per user per window, and the
# number of distinct searched values within a window that raises a search_enumeration alert.
CUSTOMER_SEARCH_RATE_LIMIT = _positive_env_int("DJANGO_CUSTOMER_SEARCH_RATE_LIMIT", 10)
CUSTOMER_SEARCH_RATE_WINDOW = timedelta(minutes=1)
CUSTOMER_SEARCH_ALERT_DISTINCT_VALUES = _positive_env_int("DJANGO_CUSTOMER_SEARCH_ALERT_DISTINCT_VALUES", 20)
CUSTOMER_SEARCH_ALERT_WINDOW = timedelta(hours=1)

# --- Security headers and cookies (production.py turns on the HTTPS-only parts) ---------------
# The header values and the CSP equal the web tier's policy, templates/web-policy.yml (the web server sends
# the same headers in front of the app; tests/deploy/test_web_policy.py holds both to it).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # nginx/Apache overwrite this header
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 60 * 60
CSRF_COOKIE_HTTPONLY = True  # API clients read the token from /api/auth/csrf/ instead of the cookie
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "demo.accounts.views.csrf_failure"
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS: list[str] = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=()"
)
# django-csp 4: nothing allowed by default; the admin and login pages need their own static files only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
    },
}

# --- Field encryption (soc2kit.encryption; block maintained with the CRYPTO helper) ------------
FIELD_ENCRYPTION = field_encryption_settings(SECRETS)

# --- Audit-trail checkpoints outside the database (soc2kit.audit.checkpoints) ----------------------
# STORE: `s3` on AWS (the Object Lock bucket, Pulumi output audit_checkpoint_bucket) or `file` on a
# local stack (a JSON-lines file on the app host). Every checkpoint is also logged on soc2kit.audit.
AUDIT_CHECKPOINTS = {
    "STORE": env("DJANGO_AUDIT_CHECKPOINT_STORE", default="file"),
    "FILE": env("DJANGO_AUDIT_CHECKPOINT_FILE", default=""),
    "S3_BUCKET": env("DJANGO_AUDIT_CHECKPOINT_S3_BUCKET", default=""),
    "S3_PREFIX": "checkpoints/",
    # Compliance-mode retention put on each object; keep it equal to the bucket's default retention.
    "RETENTION_DAYS": env.int("DJANGO_AUDIT_CHECKPOINT_RETENTION_DAYS", default=400),
}

# --- Logging: JSON to stdout, every handler redacts; alerts go to ADMINS by mail ---------------
# DJANGO_ADMINS="Security team:security@example.com,ops@example.com" (the name is optional)
ADMINS = [
    (entry.rsplit(":", 1)[0].strip(), entry.rsplit(":", 1)[-1].strip())
    if ":" in entry
    else ("", entry.strip())
    for entry in env.list("DJANGO_ADMINS", default=[])
]
SERVER_EMAIL = env("DJANGO_SERVER_EMAIL", default="soc2kit@localhost")
EMAIL_SUBJECT_PREFIX = "[soc2kit] "
LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO").upper()
ALERT_HANDLER_CLASS = env("DJANGO_ALERT_HANDLER_CLASS", default="django.utils.log.AdminEmailHandler")
# Topic of soc2kit.observability.sns.SnsAlertHandler (the alert handler on AWS).
ALERT_SNS_TOPIC_ARN = env("DJANGO_ALERT_SNS_TOPIC_ARN", default="")
# Repeated permission denials from one actor or address within the window raise an alert.
SECURITY_DENIAL_ALERT_THRESHOLD = 5
SECURITY_DENIAL_ALERT_WINDOW = timedelta(minutes=10)

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "soc2kit.observability.redaction.RedactionFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["redact"],
        },
        "alert": {
            "class": ALERT_HANDLER_CLASS,
            "level": "WARNING",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},  # never log SQL parameters
        # Every record sent here is a security alert: it is logged and also sent to the alert handler.
        "soc2kit.alerts": {"handlers": ["stdout", "alert"], "level": "WARNING", "propagate": False},
    },
}
