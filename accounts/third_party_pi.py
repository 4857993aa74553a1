"""PI inventory entries for the third-party tables the login machinery writes.

Declared here (``register_pi_model``) because the models are not ours; called from
``AccountsConfig.ready``. Both kinds of table are short-lived security records:

- simplejwt's ``OutstandingToken``: every refresh token issued, so it can be blacklisted. The
  token text names the user by ``public_id`` only; it is a credential, never exported, deleted by
  erasure (its ``BlacklistedToken`` rows go with it) and flushed after expiry.
- django-axes' lockout tables: ``username`` is the blind index of the e-mail
  (``accounts.lockout.lockout_key``), never the address, and the login form's username/e-mail
  parameters are masked in ``post_data`` (``AXES_SENSITIVE_PARAMETERS``). The rows carry no link
  to a user row, so a DSAR cannot walk to them (no ``subject``); they expire with the 30-minute
  cool-off and are deleted within a day.
- django-auditlog's ``LogEntry`` (the field-level change trail, ``compliance.change_trail``):
  PI values in ``changes`` are fully masked when written, so its personal information is the
  acting user and their client address. It is audit evidence: kept for the audit_trail period.
"""

from __future__ import annotations

from functools import partial

from django.apps import apps

from compliance.pi.registry import PI, register_pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

_SECURITY = partial(
    PI,
    category=Category.IDENTITY,
    purposes=["security"],
    lawful_basis=LawfulBasis.LEGITIMATE_INTEREST,
    retention="session",
    export=False,
    erasure=Erasure.DELETE,
)
_AXES_TABLES = {
    "AccessAttempt": ["http_accept", "path_info", "attempt_time", "failures_since_start"],
    "AccessLog": ["http_accept", "path_info", "attempt_time", "logout_time", "session_hash"],
    "AccessFailureLog": ["http_accept", "path_info", "attempt_time", "locked_out"],
}


def register_third_party_pi() -> None:
    if apps.is_installed("rest_framework_simplejwt.token_blacklist"):
        register_pi_model(
            "token_blacklist.OutstandingToken",
            subject="user",
            description="Issued refresh tokens (for rotation and revocation); credentials, never exported.",
            fields={"token": _SECURITY(description="The refresh token (JWT naming the user by public id).")},
            not_pi=["id", "user", "jti", "created_at", "expires_at"],
        )
    if apps.is_installed("auditlog"):
        register_pi_model(
            "auditlog.LogEntry",
            subject="actor",
            description="Field-level change trail; PI values are masked at write time, kept as audit evidence.",
            fields={
                "remote_addr": PI(
                    Category.IDENTITY,
                    purposes=["security", "legal_compliance"],
                    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
                    retention="audit_trail",
                    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
                    description="Client address of the change.",
                ),
                "actor_email": PI(
                    Category.CONTACT,
                    purposes=["security"],
                    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
                    retention="audit_trail",
                    erasure=Erasure.NULL,
                    description="Left empty on purpose: compliance.middleware passes the actor's id only.",
                ),
            },
            not_pi=[
                "id", "content_type", "object_pk", "object_id", "object_repr", "serialized_data", "action",
                "changes_text", "changes", "actor", "cid", "remote_port", "timestamp", "additional_data",
            ],
        )  # fmt: skip
    if apps.is_installed("axes"):
        for model_name, not_pi in _AXES_TABLES.items():
            register_pi_model(
                f"axes.{model_name}",
                description="Login attempts for the account lockout; the account is named by a blind index.",
                fields={
                    "username": _SECURITY(description="Blind index of the e-mail address, never the address."),
                    "ip_address": _SECURITY(description="Client address (trusted-proxy rule)."),
                    "user_agent": _SECURITY(),
                    **(
                        {
                            "get_data": _SECURITY(description="Query parameters, secrets and usernames masked."),
                            "post_data": _SECURITY(description="Form parameters, secrets and usernames masked."),
                        }
                        if model_name == "AccessAttempt"
                        else {}
                    ),
                },
                not_pi=not_pi,
            )
