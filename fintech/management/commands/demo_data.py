"""Load the demo data `make run` shows a newcomer: one user per role, each with an authenticator.

Idempotent: a second run changes nothing and says so. Users are created through the accounts
services (customer self-registration, admin-created staff) and each gets an enrolled TOTP
device, because the admin demands a one-time code from every staff user. Passwords and TOTP keys
are random, printed once when the users are created and kept in a private file (mode 0600,
git-ignored) under var/.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import roles, services
from compliance.consent.models import ConsentEvent, PurposeNotice
from compliance.consent.services import consent_record
from compliance.dsar.models import DSAR_RESPONSE_DAYS, DataSubjectRequest
from compliance.dsar.services import (
    dsar_approve,
    dsar_assign,
    dsar_close,
    dsar_extend,
    dsar_file,
    dsar_request_approval,
    dsar_verify_identity,
)
from compliance.retention.models import HoldKind, LegalHold
from compliance.retention.services import hold_place
from ledger.demo import DEMO_SECOND_CUSTOMER_EMAIL, load_demo_ledger

DEMO_DOMAIN = "demo.fintech.example"
ROLES = roles.ALL_ROLES
# Staff carry realistic names: the admin header greets each person by name and role.
STAFF_NAMES = {
    roles.OPERATIONS: ("Olwethu", "Mokoena"),
    roles.INFORMATION_OFFICER: ("Ayesha", "Patel"),
    roles.AUDITOR: ("Johan", "van Wyk"),
    roles.ADMIN: ("Nomsa", "Dlamini"),
}
# The demo customer, named like a real one (staff screens show customers masked: "T*** K***").
CUSTOMER_NAMES = ("Thandiwe", "Khumalo")
# A second information officer, so a deletion's four-eyes approval can be completed in the demo.
SECOND_OFFICER_EMAIL = f"information.officer.two@{DEMO_DOMAIN}"
SECOND_OFFICER_NAMES = ("Sipho", "Ndlovu")


class _Names(TypedDict):
    first_name: str
    last_name: str


def _received_days_ago(dsar: DataSubjectRequest, days: int) -> None:
    """Demo history: the request arrived ``days`` ago (its statutory 30 days counted from then)."""
    received = timezone.now() - timedelta(days=days)
    due = received + timedelta(days=DSAR_RESPONSE_DAYS)
    DataSubjectRequest.objects.filter(pk=dsar.pk).update(received_at=received, original_due_at=due, due_at=due)


def _demo_password() -> str:
    # Random, with letters and digits guaranteed (the password policy demands both).
    return f"{secrets.token_urlsafe(15)}a{secrets.randbelow(10)}"


class Command(BaseCommand):
    help = "Create the demo users (one per role) and their story unless they exist; print credentials once."

    def _load_the_product_story(self) -> None:
        """A customer with consents, a funded wallet and transfers, and DSARs waiting in the queue.

        Every step is idempotent (fixed idempotency keys, "only if none yet" guards), so a second
        ``make run`` adds nothing.
        """
        user_model = get_user_model()
        by_role = {role: user_model.objects.get_by_email(f"{role.replace('_', '.')}@{DEMO_DOMAIN}") for role in ROLES}
        customer, officer = by_role[roles.CUSTOMER], by_role[roles.INFORMATION_OFFICER]
        with transaction.atomic():
            load_demo_ledger(customer=customer, operations=by_role[roles.OPERATIONS])
            second = user_model.objects.get_by_email(DEMO_SECOND_CUSTOMER_EMAIL)
            if not ConsentEvent.objects.filter(subject=customer).exists():
                for purpose, granted in (("direct_marketing", True), ("third_party_marketing_sharing", False)):
                    version = (
                        PurposeNotice.objects.filter(purpose__code=purpose, published_at__isnull=False)
                        .order_by("-version")
                        .values_list("version", flat=True)
                        .first()
                    )
                    if version is not None:
                        consent_record(
                            actor=customer, subject=customer, purpose=purpose, granted=granted,
                            notice_version=version, channel="api",
                        )  # fmt: skip
            if not DataSubjectRequest.objects.exists():
                access = dsar_file(subject=customer, filed_by=customer, type="access", details="A copy of everything.")
                objection = dsar_file(
                    subject=second, filed_by=second, type="objection", purposes=["direct_marketing"],
                    details="Please stop marketing e-mails.",
                )  # fmt: skip
                dsar_verify_identity(actor=officer, dsar=objection, evidence="MFA step-up at filing (demo)")
                dsar_assign(actor=officer, dsar=objection)
                # The subject is told of every step (the request page lists the notices): this one
                # the extension with its reason (PAIA s57), after the acknowledgement.
                dsar_extend(
                    actor=officer, dsar=objection, days=14,
                    reason="Demo: waiting for the mailing service's suppression-list confirmation.",
                )  # fmt: skip
                correction = dsar_file(
                    subject=second, filed_by=second, type="correction",
                    requested_changes={"last_name": "Customer-Two"}, details="My surname is double-barrelled.",
                )  # fmt: skip
                # Deadline pressure the officer's landing page shows: the access request was received
                # 33 days ago (overdue), the correction 26 days ago (due this week).
                _received_days_ago(access, 33)
                _received_days_ago(correction, 26)
                # A deletion one officer has reviewed and asked a second officer to approve (four
                # eyes): the second officer completes it from the queue.
                deletion = dsar_file(
                    subject=customer, filed_by=customer, type="deletion",
                    details="Please close my account and delete my data.",
                )  # fmt: skip
                dsar_verify_identity(actor=officer, dsar=deletion, evidence="MFA step-up at filing (demo)")
                dsar_assign(actor=officer, dsar=deletion)
                dsar_request_approval(
                    actor=officer, dsar=deletion, note="Checked: no legal hold on this customer; FICA rows are kept."
                )  # fmt: skip
                self._past_requests(second, officer)
                # Filed by the officer on the customer's behalf (a phone call): any type works from the
                # admin's "Add" form and POST /api/v1/officer/dsar/, with the type's own inputs.
                dsar_file(
                    subject=customer, filed_by=officer, type="restriction", purposes=["analytics"],
                    details="Asked by phone to pause analytics while a complaint is open.",
                    identity_evidence="Call-back to the number on file (demo)",
                    notify_contact="+27825550100",  # the notices go by SMS (printed by the dev backend)
                )  # fmt: skip
            # A litigation hold the information officer placed (Compliance > Legal holds): the
            # purge keeps the second customer's records and a deletion request would say why.
            if not LegalHold.objects.on_subjects().filter(subject=second).exists():
                hold_place(
                    actor=officer, subject=second, kind=HoldKind.LITIGATION,
                    reason="Demo: card-chargeback dispute 2026/017 before the Ombud; keep the account's records.",
                    hold_until=timezone.now() + timedelta(days=180),
                )  # fmt: skip
            # Issue 16: the held customer asks to be deleted while holding money. The officer's
            # queue shows the request awaiting a second approval, which is refused until the balance
            # is settled ("Settle the balance": payout or unclaimed funds); the erasure
            # then keeps everything under the litigation hold and says so in the statement.
            if not DataSubjectRequest.objects.filter(subject=second, type="deletion").exists():
                deletion = dsar_file(
                    subject=second, filed_by=second, type="deletion", details="Please close and delete my account.",
                )  # fmt: skip
                dsar_verify_identity(actor=officer, dsar=deletion, evidence="MFA step-up at filing (demo)")
                dsar_assign(actor=officer, dsar=deletion)
                dsar_request_approval(actor=officer, dsar=deletion)
        self.stdout.write(
            "Demo story: wallets funded with transfers, consents recorded, DSARs in the queue (each acknowledged to "
            "the subject, one overdue, one due this week, one extended, one notified by SMS, a deletion waiting for "
            "the second officer, a direct-marketing objection already in force, a deletion blocked by the customer's "
            "balance), a litigation hold on the second customer; audit chain verified and secret inventory checked."
        )

    def _publish_the_audit_checkpoint(self) -> None:
        """Seal the trail, sign a checkpoint and archive it, so the auditor sees proofs work (ADR 0006)."""
        from compliance.audit.archive import export_segments
        from compliance.audit.chain import seal_and_export_head
        from compliance.audit.transparency import latest_checkpoint
        from compliance.crypto.keys import AUDIT_SIGNING, KeyProviderError, get_key_provider

        provider = get_key_provider()
        try:
            provider.ring(AUDIT_SIGNING)
        except KeyProviderError:
            # A dev key ring made before checkpoints existed: give it a signing key (file/KMS only).
            try:
                provider.add_version(AUDIT_SIGNING)
            except KeyProviderError as exc:
                self.stdout.write(f"Audit checkpoints: not signed ({exc})")
                return
        result = seal_and_export_head(force_head=True)
        latest = latest_checkpoint()
        if latest is None or latest.size < result.head_seq:
            seal_and_export_head(force_head=True, force_checkpoint=True)
            latest = latest_checkpoint()
        export_segments()
        if latest is not None:
            self.stdout.write(
                f"Audit trail: checkpoint of {latest.size} records signed, in {settings.AUDIT_ARCHIVE_DIR}; "
                "verify offline: manage.py audit_log_keys > log.vkeys && "
                f"python -m compliance.audit.verify {settings.AUDIT_ARCHIVE_DIR} --keys log.vkeys --partial"
            )

    def _past_requests(self, subject: Any, officer: Any) -> None:
        """Six months of closed objections (one late), so the on-time trend has a history."""
        now = timezone.now()
        for months_ago, days_taken in ((6, 12), (5, 20), (4, 34), (3, 9), (2, 27), (1, 15)):
            dsar = dsar_file(
                subject=subject, filed_by=subject, type="objection", purposes=["direct_marketing"],
                details="Stop the marketing messages, please.",
            )  # fmt: skip
            dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA step-up at filing (demo)")
            dsar_assign(actor=officer, dsar=dsar)
            dsar_approve(actor=officer, dsar=dsar, note="Objection to direct marketing: always upheld.")
            dsar_close(actor=officer, dsar=dsar)
            received = now - timedelta(days=30 * months_ago + days_taken)
            due = received + timedelta(days=DSAR_RESPONSE_DAYS)
            done = received + timedelta(days=days_taken)
            DataSubjectRequest.objects.filter(pk=dsar.pk).update(
                received_at=received, original_due_at=due, due_at=due, fulfilled_at=done, closed_at=done
            )

    def _start_green(self) -> None:
        """A fresh install starts green: the first chain verification and the secret inventory run
        now, not an hour later, and the secrets this install generated count as rotated today (the
        demo admin records that, audited), so no alarm shows that nobody needs to act on."""
        from compliance.audit.chain import seal_and_export_head, verify_and_alert
        from compliance.secret_rotation.inventory import secret_rotation_record, secrets_check, secrets_sync

        admin = get_user_model().objects.get_by_email(f"admin@{DEMO_DOMAIN}")
        for secret, source in secrets_sync():
            if secret.rotated_at is not None:
                continue
            if source.rotate is not None:
                source.rotate(actor=admin)  # the platform makes this install's first key now
            else:
                secret_rotation_record(actor=admin, secret=secret)  # generated by this install
        secrets_check(actor=admin, rotate=False)
        seal_and_export_head(force_head=True)
        verify_and_alert()

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        credentials_file = Path(settings.VAR_DIR) / "demo-credentials.txt"
        created: list[tuple[str, str, str, str, str]] = []
        services.roles_sync(actor=None)
        with transaction.atomic():
            people = [(role, f"{role.replace('_', '.')}@{DEMO_DOMAIN}", STAFF_NAMES.get(role)) for role in ROLES]
            people.append((roles.INFORMATION_OFFICER, SECOND_OFFICER_EMAIL, SECOND_OFFICER_NAMES))
            for role, email, staff_names in people:
                if user_model.objects.filter_by_email(email).exists():
                    continue
                password = _demo_password()
                first, last = staff_names or (
                    CUSTOMER_NAMES if role == roles.CUSTOMER else ("Demo", role.replace("_", " ").title())
                )
                names: _Names = {"first_name": first, "last_name": last}
                if role == roles.CUSTOMER:
                    user = services.customer_register(email=email, password=password, **names)
                else:
                    user = services.staff_user_create(
                        actor=None,
                        email=email,
                        password=password,
                        role=role,
                        is_superuser=role == roles.ADMIN,
                        **names,
                    )
                device = services.totp_enrol_start(actor=user, password=password)
                services.totp_enrol_confirm(actor=user, code=device.current_code(), issue_tokens=False)
                created.append((role, email, password, device.key, services.otpauth_uri(device)))
        self._load_the_product_story()
        self._publish_the_audit_checkpoint()
        self._start_green()  # after the checkpoint: the first verification covers it
        if not created:
            self.stdout.write(f"Demo data already present; credentials are in {credentials_file}.")
            return
        lines = [f"{role:<20} {email:<45} {password}  TOTP key {key}" for role, email, password, key, _ in created]
        uris = [f"{role:<20} {uri}" for role, _, _, _, uri in created]
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.write("\n".join(uris) + "\n")
        self.stdout.write(self.style.SUCCESS(f"Demo users created (shown once; also in {credentials_file}):"))
        for line in lines:
            self.stdout.write("  " + line)
        self.stdout.write("Add the TOTP keys to an authenticator app (or open these otpauth URIs):")
        for line in uris:
            self.stdout.write("  " + line)
        self.stdout.write("The admin asks for e-mail, password and the current 6-digit code.")
