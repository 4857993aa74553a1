"""The beat schedule: the one place that says which routine runs when.

django-celery-beat copies these entries into its PeriodicTask table when beat starts, so the
admin shows every routine, when it last ran and (through django-celery-results) its last result.
Task names are strings so this module imports no app code.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

from kernel.env import env_int

BEAT_SCHEDULE: dict[str, dict] = {
    "dsar-deadline-escalation": {
        "task": "compliance.dsar.escalate",
        "schedule": crontab(minute=0, hour=6),
    },
    "platform-heartbeat": {
        "task": "fintech.tasks.heartbeat",
        "schedule": timedelta(seconds=env_int("FINTECH_HEARTBEAT_SECONDS", 30)),
        "options": {"expires": 30},
    },
    # Audit trail (SPEC C4): chain records seconds after commit, verify hourly, archive daily.
    "audit-seal": {
        "task": "compliance.tasks.seal_audit_events",
        "schedule": timedelta(seconds=env_int("AUDIT_SEAL_SECONDS", 5)),
        "options": {"expires": 5},
    },
    "audit-verify-chain": {
        "task": "compliance.tasks.verify_audit_chain",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3600},
    },
    "audit-archive": {
        "task": "compliance.tasks.archive_audit_segments",
        "schedule": timedelta(days=1),
        "options": {"expires": 6 * 3600},
    },
    # The erasure ledger (issue 20): erasures whose append after commit failed are retried.
    "dsar-erasure-ledger": {
        "task": "compliance.dsar.record_erasures",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 5 * 60},
    },
    # DSAR notices (issue 16): notices still pending after their task's retries are sent again.
    "dsar-resend-notices": {
        "task": "compliance.dsar.resend_notices",
        "schedule": timedelta(minutes=10),
        "options": {"expires": 10 * 60},
    },
    # Ledger reconciliation (SPEC C7): every balance re-derived from postings, daily.
    "ledger-check-daily": {
        "task": "ledger.tasks.check_ledger",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 60 * 60},
    },
    # Two-phase deposits (ADR 0005): claims nothing settled within LEDGER_PENDING_DEPOSIT_HOURS void.
    "ledger-expire-pending-deposits": {
        "task": "ledger.tasks.expire_pending_deposits",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 15 * 60},
    },
    # Retention purges and secret-rotation checks (SPEC C8), daily, off the business peak.
    "retention-purge-daily": {
        "task": "compliance.retention.purge",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expires": 6 * 60 * 60},
    },
    "secrets-check-daily": {
        "task": "compliance.secrets.check",
        "schedule": crontab(hour=4, minute=0),
        "options": {"expires": 6 * 60 * 60},
    },
}
