"""Django settings: every value comes from the environment (see README's "Configuration").

Embedded default (``make run``): SQLite file and an embedded Redis under DATA_DIR, a secret
generated once into DATA_DIR. Production (``PRODUCTION=1``, docker-compose): DATABASE_URL,
REDIS_URL and SECRET_KEY are required, cookies are secure and HSTS is on.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labelapp.lib import env, object_store
from labelapp.lib.embedded_redis import socket_url
from labelapp.web_server import cores

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env.data_dir()
PRODUCTION = env.env_bool("PRODUCTION", False)
DEBUG = env.env_bool("DEBUG", False)

if PRODUCTION:
    for required in ("DATABASE_URL", "REDIS_URL"):
        if not env.env_str(required, ""):
            raise ImproperlyConfigured(f"{required} must be set when PRODUCTION=1")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG=1 is refused when PRODUCTION=1 (it shows settings and stack traces)")
    SECRET_KEY = env.production_secret_key()
else:
    SECRET_KEY = env.env_str("SECRET_KEY", "") or env.generated_secret(DATA_DIR / "secret_key")

# Django's test runner adds "testserver" itself; it is no host of a running app.
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets served locally (no CDN)
    "labelapp.projects",
    "labelapp.images",
    "labelapp.labeling",
    "labelapp.training",
    "labelapp.exports",
    "labelapp.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "labelapp.lib.unavailable.ServiceUnavailableMiddleware",  # database/Redis down → 503 with a message
]

ROOT_URLCONF = "labelapp.urls"
ASGI_APPLICATION = "labelapp.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env.env_url(
            "DATABASE_URL",
            f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
            schemes={"sqlite", "postgres", "postgresql", "pgsql"},
        ),
        # 0 (a connection per request) for the web server: under ASGI every request runs its view in a thread
        # of its own (Django's ThreadSensitiveContext), and a connection kept per thread exhausted
        # PostgreSQL's max_connections within a minute of benchmarks/web_load ("too many clients already").
        conn_max_age=env.env_int("DB_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,  # with a pool: a connection a database restart broke is dropped, not lent
    )
}
# A psycopg connection pool per process on PostgreSQL, of at most DB_POOL_SIZE connections (0: none). The web
# server sets it (labelapp.web_server.web_environment): a new connection costs PostgreSQL a backend process
# and its catalog caches, ~7 ms against 0.35 ms for two queries on a pooled one, on every request. Not for
# the RQ workers: a forking worker's child would inherit the pool's connections and lose its threads.
DB_POOL_SIZE = env.env_int("DB_POOL_SIZE", 0, minimum=0)
if DB_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": 5}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Sessions and tokens live in this file: created 600 before SQLite opens it (its -wal and -shm files
    # take the same mode).
    if str(DATABASES["default"]["NAME"]) != ":memory:":
        env.private_file(Path(DATABASES["default"]["NAME"]))
    # WAL lets the worker write predictions while the web server reads; wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_SOCKET = DATA_DIR / "redis" / "redis.sock"
EMBEDDED_REDIS = not env.env_str("REDIS_URL", "")
REDIS_URL = env.env_url("REDIS_URL", socket_url(REDIS_SOCKET), schemes={"redis", "rediss", "unix"})
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 360},
    "training": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env.env_int("TRAINING_JOB_TIMEOUT", 1800, minimum=60)},
}
# channels_redis, with reads that outlast its blocking pops and retries of Redis timeouts (labelapp.lib.channel_layer).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "labelapp.lib.channel_layer.ResilientRedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": env.env_str("CHANNELS_PREFIX", "labelapp")},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The default cache holds everything the web processes must agree on: login failure counts
# (labelapp.lib.login_throttle), the labeling counts and the label queue's stored-order lookups
# (labelapp.labeling.selectors). It lives in Redis (the embedded one of `make run`, or REDIS_URL), in its
# own database CACHE_REDIS_DB (so clearing the cache never touches the job queues), so that WEB_PROCESSES
# processes behave as one; CACHE_URL overrides it (a redis:// URL, or locmem:// for one process only).
CACHE_REDIS_DB = env.env_int("CACHE_REDIS_DB", 1, minimum=0)


def _redis_url_with_db(url: str, db: int) -> str:
    """``url`` (redis://, rediss:// or unix://) pointing at database ``db`` instead of its own."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}?{urlencode(dict(parse_qsl(parts.query)) | {'db': str(db)})}"
    return urlunsplit(parts._replace(path=f"/{db}"))


CACHE_URL = env.env_url("CACHE_URL", _redis_url_with_db(REDIS_URL, CACHE_REDIS_DB),
                        schemes={"locmem", "redis", "rediss", "unix"})
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"} if CACHE_URL == "locmem://"
          else {"BACKEND": "labelapp.lib.shared_cache.SharedRedisCache", "LOCATION": CACHE_URL,
                "KEY_PREFIX": env.env_str("CACHE_PREFIX", "labelapp"),
                "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2}}}
AUTHENTICATION_BACKENDS = ["labelapp.lib.login_throttle.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = env.env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env.env_int("LOGIN_LOCKOUT_SECONDS", 300, minimum=1)
# Mail (password reset): off unless EMAIL_HOST is set; the reset page then says so instead of trying
# an SMTP server on localhost.
EMAIL_HOST = env.env_str("EMAIL_HOST", "")
EMAIL_PORT = env.env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10  # seconds: a slow mail server never holds a request for long
DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "labelapp@localhost")
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                 else "django.core.mail.backends.dummy.EmailBackend")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from here after collectstatic
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Media (images, thumbnails) and the files every host must see (checkpoints, per-version embeddings, see
# labelapp.lib.shared_files): folders under DATA_DIR (STORAGE_BACKEND=local, the default), or one
# S3-compatible bucket (STORAGE_BACKEND=s3: AWS S3, SeaweedFS, MinIO, ...), so a second host can run
# training workers against the same database and Redis (README, "A second training host"). Media go under
# media/ in the bucket, checkpoints and embeddings under shared/; each host keeps local copies of the latter.
STORAGE_BACKEND = env.env_str("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "s3":
    for required in ("S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        if not env.env_str(required, ""):
            raise ImproperlyConfigured(f"{required} must be set when STORAGE_BACKEND=s3")
    S3_ENDPOINT_URL = env.env_str("S3_ENDPOINT_URL", "")  # empty: AWS itself
    if S3_ENDPOINT_URL:
        env.env_url("S3_ENDPOINT_URL", "", schemes={"http", "https"})
    STORAGES.update(object_store.s3_storages(
        bucket=env.env_str("S3_BUCKET", ""),
        access_key=env.env_str("S3_ACCESS_KEY_ID", ""),
        secret_key=env.env_str("S3_SECRET_ACCESS_KEY", ""),
        endpoint_url=S3_ENDPOINT_URL,
        region=env.env_str("S3_REGION", "us-east-1"),
    ))
elif STORAGE_BACKEND != "local":
    raise ImproperlyConfigured(f"STORAGE_BACKEND={STORAGE_BACKEND!r}: must be 'local' or 's3'")
CACHE_DIR = DATA_DIR / "cache"  # decoded uint8 image caches per project (per host, rebuilt from media)
CHECKPOINT_DIR = DATA_DIR / "checkpoints"
EXPORT_DIR = DATA_DIR / "exports"
# A background export (labels or model) stays downloadable this long, then its file is deleted (410).
EXPORT_KEEP_HOURS = env.env_int("EXPORT_KEEP_HOURS", 24, minimum=1)
# Memory for the image pages' nearest-neighbour indexes (each version's embeddings, per web process).
NEIGHBOUR_CACHE_MB = env.env_int("NEIGHBOUR_CACHE_MB", 256, minimum=1)

# Uploads: images are checked by content; a decoded image may not exceed this many pixels
# (Pillow's own default is ~89M; its DecompressionBombWarning is treated as an error).
MAX_IMAGE_PIXELS = env.env_int("MAX_IMAGE_PIXELS", 40_000_000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env.env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 1000, minimum=1)
# Request bodies (labelapp.lib.body_limits): larger ones get 413 before they are read. Uploads (the two
# upload routes, members who may upload) up to MAX_UPLOAD_BYTES; any other route of a logged-in user up to
# MAX_REQUEST_BYTES; a caller without credentials (login form, /api/token/) up to MAX_ANONYMOUS_REQUEST_BYTES.
MAX_UPLOAD_BYTES = env.env_int("MAX_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1024)
MAX_REQUEST_BYTES = env.env_int("MAX_REQUEST_BYTES", 2 * 1024 * 1024, minimum=1024)
MAX_ANONYMOUS_REQUEST_BYTES = env.env_int("MAX_ANONYMOUS_REQUEST_BYTES", 64 * 1024, minimum=1024)
# Zips: uncompressed bytes all the zips of one web request may inflate to, and the largest
# inflated/compressed ratio of one member (past 1 MiB; image files barely compress, deflate reaches ~1032).
IMPORT_MAX_REQUEST_BYTES = env.env_int("IMPORT_MAX_REQUEST_BYTES", 2 * 1024 * 1024 * 1024, minimum=1024)
IMPORT_MAX_ZIP_RATIO = env.env_int("IMPORT_MAX_ZIP_RATIO", 200, minimum=1)

TRAINING_ROUND_SECONDS = env.env_int("TRAINING_ROUND_SECONDS", 60, minimum=1)
# The first pre-training round and the first SSL round of a project train at most this long
# (labelapp.training.rounds.round_seconds): the first embeddings and the first trained model come sooner.
# (A pre-training round short of TRAINING_PRETRAIN_MIN_SECONDS, below, stops when it reaches it.)
TRAINING_FIRST_ROUND_SECONDS = env.env_int("TRAINING_FIRST_ROUND_SECONDS", 30, minimum=1)
# The training worker yields to the web (labelapp.training.worker): it runs at this niceness (0: as the web)
# with this many torch threads (default: all cores but one, at least one).
TRAINING_NICE = env.env_int("TRAINING_NICE", 10, minimum=0)
TRAINING_TORCH_THREADS = env.env_int(
    "TRAINING_TORCH_THREADS", max(1, cores() - 1), minimum=1
)
# Every version's row, metrics, losses and timings are kept forever; the bulky data (prediction rows,
# checkpoint, embeddings) only of the newest this many versions, the current one and pinned ones.
TRAINING_KEEP_VERSIONS = env.env_int("TRAINING_KEEP_VERSIONS", 3, minimum=1)
# A round holds a per-project Redis lock with this time-to-live, renewed every third of it while the
# round runs; a worker killed mid-round frees the project after at most this long.
TRAINING_LOCK_SECONDS = env.env_int("TRAINING_LOCK_SECONDS", 30, minimum=2)
# Pool-first training (README, "How the worker learns the pool"): rounds pre-train the project's encoder on
# its unlabeled images until the project has TRAINING_SSL_MIN_LABELS_PER_CLASS labels per class on average
# and the encoder has pre-trained for TRAINING_PRETRAIN_MIN_SECONDS (on CPU; _GPU on a CUDA device); then
# the SSL model trains from that encoder. The pool growing by TRAINING_PRETRAIN_GROWTH_PERCENT since the
# last pre-training round resumes pre-training for one round. The CPU minimum is 1 minute, as on a GPU: in the
# demo (3,000 images) the encoder's second minute moved the propagated labels' test accuracy by half a point
# and the SSL model's next minute by 5 points (benchmarks/RESULTS.md, "Demo: one minute of pre-training");
# a project without labels pre-trains for as long as it has none, whatever the minimum.
TRAINING_SSL_MIN_LABELS_PER_CLASS = env.env_int("TRAINING_SSL_MIN_LABELS_PER_CLASS", 2, minimum=0)
TRAINING_PRETRAIN_MIN_SECONDS = env.env_int("TRAINING_PRETRAIN_MIN_SECONDS", 60, minimum=0)
TRAINING_PRETRAIN_MIN_SECONDS_GPU = env.env_int("TRAINING_PRETRAIN_MIN_SECONDS_GPU", 60, minimum=0)
TRAINING_PRETRAIN_GROWTH_PERCENT = env.env_int("TRAINING_PRETRAIN_GROWTH_PERCENT", 20, minimum=1)

# API tokens (labelapp.api.models.ApiToken) stop working this many days after they are made.
API_TOKEN_TTL_DAYS = env.env_int("API_TOKEN_TTL_DAYS", 30, minimum=1)
# Invitation links (labelapp.projects.models.Invitation: an owner makes an account for a new person) stop
# working this many days after they are made.
INVITATION_DAYS = env.env_int("INVITATION_DAYS", 7, minimum=1)

REST_FRAMEWORK = {
    # Token first: a request without credentials gets 401 with "WWW-Authenticate: Token" (the first
    # class names the challenge), not 403; a browser session still authenticates.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labelapp.api.authentication.ExpiringTokenAuthentication",
        "labelapp.api.permissions.CsrfFirstSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "labelapp API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO")},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: RQ workers in other processes must see the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
