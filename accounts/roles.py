"""The five roles as Django groups, each with the least privilege its job needs (SPEC C2).

Permissions are "app_label.codename" strings, and every one must exist: a model's default
permission (``view_<model>`` ...) or a custom one in its ``Meta.permissions``. The system check
``accounts.E001`` fails ``manage.py check`` on a name that does not, and ``roles_sync`` refuses one
missing from the database rather than skip it. ``roles_sync`` runs after every ``migrate`` and via
``manage.py sync_roles``; it makes each group's permissions exactly the declared set.

- customer: no model permissions; customers act only through the API, scoped to themselves.
- operations: KYC and customer support (masked PI, reveal identity/contact/financial with a
  reason), ledger read-only.
- information_officer: DSAR queue, processing purposes, retention, legal holds. (The
  security-compromise register of POPIA s22 does not exist yet; its permissions are granted when
  its model lands.)
- auditor: read-only everywhere (only ``view_`` permissions; a test enforces it), PI masked with
  no reveal: the auditor checks what was done, not who it was done to.
- admin: user and role administration, scheduler and lockout management.
"""

from __future__ import annotations

CUSTOMER = "customer"
OPERATIONS = "operations"
INFORMATION_OFFICER = "information_officer"
AUDITOR = "auditor"
ADMIN = "admin"

STAFF_ROLES = (OPERATIONS, INFORMATION_OFFICER, AUDITOR, ADMIN)
ALL_ROLES = (CUSTOMER, *STAFF_ROLES)

_LEDGER_READ = [
    "ledger.view_ledgeraccount",
    "ledger.view_journalentry",
    "ledger.view_posting",
    "ledger.view_card",
    "ledger.view_kycrecord",
    "ledger.view_bankaccount",
]
_COMPLIANCE_READ = [
    "compliance.view_auditevent",
    "compliance.view_auditcheckpoint",  # the signed checkpoints of the audit trail (ADR 0006)
    "compliance.view_processingpurpose",
    "compliance.view_purposenotice",
    "compliance.view_consentevent",
    "compliance.view_processingrestrictionevent",
    "compliance.view_consent_statistics",
    "compliance.view_datasubjectrequest",
    "compliance.view_dsarevent",
    "compliance.view_dsarnotice",
    "compliance.view_legalhold",
    "compliance.view_pi_inventory",
    "compliance.view_fieldkeyversion",
    "compliance.view_keyrotationrun",
    "compliance.view_retentionpolicy",
    "compliance.view_secretrotation",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER: [],
    OPERATIONS: [
        "accounts.view_user",
        *_LEDGER_READ,
        # Staff actions, each a custom permission on its model (the services still check the
        # operations group; they move to these permissions with the authorisation idiom).
        "ledger.decide_kyc",
        "ledger.verify_bankaccount",
        "ledger.reverse_entry",
        # Two-phase settlement: one person records the statement line, a second confirms (ADR 0005).
        "ledger.confirm_settlement",
        # Full card numbers, one at a time, with a reason and a recent MFA; each reveal is audited.
        "ledger.reveal_card_pan",
        # PI is masked in the admin; a reveal (with a reason, audited) per category: identity to check
        # a KYC submission against its document, contact for support, financial for payout accounts.
        "compliance.reveal_identity",
        "compliance.reveal_contact",
        "compliance.reveal_financial",
    ],
    INFORMATION_OFFICER: [
        "accounts.view_user",
        "compliance.view_auditevent",
        "compliance.view_auditcheckpoint",
        "compliance.view_pi_inventory",
        # Consent management (SPEC C5): purposes, notices, evidence, on-behalf records, exports.
        "compliance.view_processingpurpose",
        "compliance.add_processingpurpose",
        "compliance.change_processingpurpose",
        "compliance.view_purposenotice",
        "compliance.add_purposenotice",
        "compliance.change_purposenotice",
        "compliance.view_consentevent",
        "compliance.view_processingrestrictionevent",
        "compliance.add_processingrestrictionevent",
        "compliance.export_marketing_audience",
        "compliance.record_consent_on_behalf",
        "compliance.view_consent_statistics",
        # The DSAR review queue (SPEC C6): actions go through services that check process_dsar.
        "compliance.view_datasubjectrequest",
        "compliance.view_dsarevent",
        "compliance.view_dsarnotice",
        "compliance.process_dsar",
        "compliance.view_retentionpolicy",
        "compliance.add_retentionpolicy",
        "compliance.change_retentionpolicy",
        "compliance.view_legalhold",
        "compliance.add_legalhold",
        "compliance.change_legalhold",
        "compliance.release_legalhold",
        # Identity verification and corrections of a DSAR need the subject's identity and contact
        # details in clear, revealed with a reason (audited); financial and card data are not needed.
        "compliance.reveal_identity",
        "compliance.reveal_contact",
    ],
    AUDITOR: [
        "accounts.view_user",
        "auth.view_group",
        *_LEDGER_READ,
        *_COMPLIANCE_READ,
        "axes.view_accessattempt",
        "django_celery_beat.view_periodictask",
        "django_celery_results.view_taskresult",
    ],
    ADMIN: [
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "auth.view_group",
        "accounts.view_totpdevice",
        "accounts.delete_totpdevice",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.view_intervalschedule",
        "django_celery_results.view_taskresult",
        "compliance.record_secret_rotation",
        # Staff accounts: a staff member's name and e-mail, revealed with a reason (audited) to edit them.
        "compliance.reveal_identity",
        "compliance.reveal_contact",
        *_COMPLIANCE_READ,
    ],
}


def is_staff_role(role: str) -> bool:
    return role in STAFF_ROLES
