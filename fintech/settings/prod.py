"""Production profile: every value from the environment, and no start without the essentials.

Refuses to start with DEBUG on, with the public development key, or without a database, Redis
or the secrets the platform depends on (see ``fintech.settings.refusals.production_refusals``).
"""

from django.core.exceptions import ImproperlyConfigured

from compliance.crypto.keys import require_field_keys
from fintech.settings.base import *  # noqa: F403
from fintech.settings.base import DATABASES, DEBUG, FIELD_KEYS, LEDGER_CARD_PROCESSOR, REDIS_URL, SECRET_KEY
from fintech.settings.refusals import production_refusals
from kernel.env import env_bool, env_int, env_str

SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 63072000)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Sessions must survive a replica's restart and be shared by all replicas.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
env_str("DJANGO_ALLOWED_HOSTS")  # required: no default host list in production

production_refusals(debug=DEBUG, secret_key=SECRET_KEY, databases=DATABASES, redis_url=REDIS_URL)
# The sandbox card processor approves every card and signs its own captures (ADR 0005): never in production.
if LEDGER_CARD_PROCESSOR.startswith("ledger.settlement.sandbox."):
    raise ImproperlyConfigured("LEDGER_CARD_PROCESSOR must not be the sandbox in production.")
require_field_keys(FIELD_KEYS)
