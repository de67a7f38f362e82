"""Embedded defaults: one administration on one machine, with no server to start.

Every name here can be overridden by an environment variable of the same name prefixed with
``DIWAN_`` (``DIWAN_DATABASE_URL``, ``DIWAN_MAX_UPLOAD_MB`` ...). Paths that are empty are placed in
the instance folder (``instance/`` beside the code, or ``DIWAN_INSTANCE_PATH``).
"""

# Storage. Empty means "inside the instance folder".
DATABASE_URL = ""  # default: sqlite:///instance/diwan.sqlite3
FILE_STORE = ""  # default: instance/files
INDEX_DIR = ""  # default: instance/index (Whoosh)
PREVIEW_CACHE = ""  # default: instance/previews

# Secrets. An empty SECRET_KEY is generated once into instance/secret_key (never in the repo).
SECRET_KEY = ""

# Interface.
DEFAULT_LOCALE = "ar"
LOCALES = "ar,fr,en"
DEFAULT_TIMEZONE = "Africa/Casablanca"
PAGE_SIZE = 50

# Uploads: refused above these limits, before the file is read into memory.
MAX_UPLOAD_MB = 25
MAX_FILES_PER_LETTER = 10

# Registry numbers. Fields: {year}, {register} (the register's code below), {seq}.
NUMBER_FORMAT = "{year}/{register}/{seq:06d}"
REGISTER_CODE_INCOMING = "A"
REGISTER_CODE_OUTGOING = "D"
REGISTER_CODE_INTERNAL = "I"

# Sandboxed parsing of uploaded files.
PARSE_TIMEOUT_S = 20
PARSE_MEMORY_MB = 1024

# Sign-in and sessions.
# Failed sign-ins allowed per client address in a window (Flask-Limiter syntax).
LOGIN_RATE_LIMIT = "10 per 5 minutes"
# After this many wrong passwords or second-factor codes in a row an account is locked for
# LOGIN_LOCKOUT_MINUTES; each further lock (after as many new failures) lasts twice as long, at
# most a day. A successful sign-in resets the count; `diwan users unlock NAME` lifts a lock.
LOGIN_LOCKOUT_AFTER = 5
LOGIN_LOCKOUT_MINUTES = 15
# Cookies are sent over HTTPS only: "auto" when BASE_URL starts with https://, or true / false.
SESSION_COOKIE_SECURE = "auto"
# A session ends after this many minutes without a request, and this many hours after sign-in.
SESSION_IDLE_MINUTES = 30
SESSION_MAX_HOURS = 12
# Passwords: at least this long, not the username or name, not a commonly used password.
PASSWORD_MIN_LENGTH = 12
# The second factor (TOTP codes from an authenticator app): the roles offered it, and the roles
# that must enrol at their next sign-in (comma-separated role codes; empty: optional for all).
TOTP_ROLES = "administrator,signatory"
TOTP_REQUIRED_ROLES = ""

# Where rate-limit counters live: memory:// for one process, redis://127.0.0.1:6379 for several.
RATELIMIT_STORAGE_URI = "memory://"

# Running in production (see docs/operations.md). Logs go to stderr: "text" lines, or "json"
# (one object per line, for a log collector). TRUSTED_PROXIES: how many proxies in front of Diwan
# set X-Forwarded-For and X-Forwarded-Proto (1 behind nginx); 0 believes no such header.
LOG_FORMAT = "text"
LOG_LEVEL = "INFO"
TRUSTED_PROXIES = 0
# /readyz: not ready when no worker finished a round for this long, or when a queue's oldest due
# item (search outbox, e-mails, webhooks) waits longer than READY_QUEUE_LAG_S. Each app process
# answers from a result at most READY_CACHE_S old.
READY_WORKER_STALE_S = 300
READY_QUEUE_LAG_S = 600
READY_CACHE_S = 1.0
# /metrics answers these addresses (comma-separated, networks allowed), or a request carrying
# "Authorization: Bearer <METRICS_TOKEN>" when the token is set; anyone else gets 404.
METRICS_ALLOWED_IPS = "127.0.0.1,::1"
METRICS_TOKEN = ""

# E-mail, sent by the background worker (`diwan worker`). An empty SMTP_HOST keeps e-mails
# queued in the database until one is configured.
SMTP_HOST = ""
SMTP_PORT = 25
SMTP_FROM = "diwan@localhost"
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
SMTP_STARTTLS = False
SMTP_TIMEOUT_S = 20

# Webhooks (Administration → Webhooks), sent by the worker: each POST waits this long for an
# answer; a delivery is retried after 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, then every 24 h, and
# marked failed after this many attempts.
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_MAX_ATTEMPTS = 8
# Private networks webhook receivers may be in, comma-separated ("10.20.0.0/16, 192.168.1.7");
# public addresses are always allowed, private, loopback and link-local ones only when listed.
WEBHOOK_ALLOWED_NETWORKS = ""

# The REST API (/api/v1): requests per token (Flask-Limiter syntax), and how long a request with
# an Idempotency-Key waits, on PostgreSQL, for a first request with the same key to finish before
# it is told that one is still running (409).
API_RATE_LIMIT = "600 per minute"
API_IDEMPOTENCY_WAIT_MS = 2000

# Deadline reminders: before the due date (working days), and escalation to the head's head
# after this many working days overdue.
REMINDER_DAYS_BEFORE = 3
ESCALATE_AFTER_DAYS = 5
# The background worker (`diwan worker`). Jobs travel on a queue: empty means a SQLite file in the
# instance folder (one machine, nothing to run beside Diwan); redis://host:6379/1 when several
# machines run workers. Each worker runs this many jobs at once, and every WORKER_TICK_S it looks
# for work a lost message or a crashed worker left (and beats for /readyz).
JOB_QUEUE_URL = ""
WORKER_THREADS = 4
WORKER_TICK_S = 30
# A worker holds each job it runs with a lease of this length, renewed while it works: a worker
# killed mid-job leaves its jobs to others once the lease lapses. E-mails and webhook deliveries
# are claimed for their network timeouts plus this long.
JOB_LEASE_S = 60
# The periodic jobs' intervals (seconds): deadline reminders and escalation; fresh CRLs and the
# renewal of archive time-stamps; a time-stamp on each audit chain's newest event; the sweeps of
# the file store (unfinished uploads, files no row names); merging the search index's segments.
DEADLINE_CHECK_INTERVAL_S = 3600
SIGNATURE_UPKEEP_INTERVAL_S = 3600
AUDIT_TIMESTAMP_INTERVAL_S = 3600
FILE_SWEEP_INTERVAL_S = 3600
SEARCH_MERGE_INTERVAL_S = 3600
# The file sweep removes files of unfinished uploads left in the file store's staging area (tmp/)
# once they are this old.
STAGING_MAX_AGE_HOURS = 24
# The file sweep also moves stored files that no row names (left by a registration rolled back or
# a crash) into the store's orphans/ folder once they are this old (at least 1; keep 24 or more:
# a form shown again keeps its uploads for 24 hours), and deletes them there after this many
# days. A quarantined file that is read or named again is moved back.
ORPHAN_MIN_AGE_HOURS = 24
ORPHAN_RETENTION_DAYS = 30

# The citizens' e-counter (/portal). Attachments: their own limits, shown on the form; PDF, JPEG and
# PNG only. An e-mail confirmation link stays valid this long. Rate limits per client address
# (Flask-Limiter syntax); per e-mail address, at most this many requests a day. Wrong tracking
# codes and passwords also slow down (each attempt past the third waits twice as long).
PORTAL_MAX_UPLOAD_MB = 10
PORTAL_MAX_FILES = 5
PORTAL_CONFIRM_HOURS = 48
PORTAL_SUBMISSIONS_PER_EMAIL_PER_DAY = 5
PORTAL_SUBMIT_RATE_LIMIT = "20 per hour"
PORTAL_CONFIRM_RATE_LIMIT = "30 per hour"
PORTAL_TRACK_RATE_LIMIT = "30 per 10 minutes"
PORTAL_ACCOUNT_RATE_LIMIT = "10 per 10 minutes"

# The address users reach Diwan at, for links in e-mails.
BASE_URL = "http://127.0.0.1:5000"

# Security keys (WebAuthn) confirming a signature are bound to this domain (the RP id): set it to
# the host name users reach Diwan at (diwan.example.gov.ma). Empty: the host name of each request.
# Browsers refuse IP addresses here, so reach Diwan by name (localhost works for a trial).
WEBAUTHN_RP_ID = ""

# Signatures. People's signatures are made at this PAdES level (B-B, B-T, B-LT, B-LTA); B-LT
# embeds the organisation's CRL so the signature can be checked years later without Diwan.
SIGNATURE_LEVEL = "B-LT"
# An RFC 3161 time-stamp authority; empty means the organisation's own, run by Diwan.
TSA_URL = ""
# A PEM file of the certificates that vouch for that outside authority (its root CA, or its own
# certificate), for `diwan verify-audit` to trust the audit chains' time-stamps it issued. Empty:
# only the installation's own time-stamp authorities are trusted.
TSA_TRUST_ROOTS = ""
# A document time-stamp when a circuit completes (B-LTA), renewed by the worker this many days
# before the time-stamp authority's certificate expires.
ARCHIVE_TIMESTAMPS = True
TIMESTAMP_RENEW_BEFORE_DAYS = 180
# Public signature checks (/verify) and Diwan's RFC 3161 time-stamp authority (/pki/<org>/tsa),
# per client address.
VERIFY_RATE_LIMIT = "20 per minute"
TSA_RATE_LIMIT = "60 per minute"

# Search. "whoosh" keeps the index in INDEX_DIR (one writer: the worker); "postgres" keeps it in
# the PostgreSQL database itself (set DATABASE_URL to PostgreSQL). Text extraction and OCR of each
# file run in a child process with these limits.
SEARCH_BACKEND = "whoosh"
# PostgreSQL only: past this many expected matches, totals and facet counts are estimated from a
# 1/16 sample and the results listed newest first (exact counts cost a heap visit per match).
SEARCH_ESTIMATE_ABOVE = 20_000
EXTRACT_TIMEOUT_S = 120
EXTRACT_MEMORY_MB = 768
