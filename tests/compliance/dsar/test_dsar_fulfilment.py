"""DSAR fulfilment end to end, on PostgreSQL with a real Celery worker (issue 8, must show).

Access: the ZIP holds every annotated, exportable field of the subject's records and nothing of
another customer; the download needs a recent MFA and is audited. Deletion: afterwards nothing of
the subject's PI is readable except inside records on a legal hold (which are pseudonymised where
their annotation allows); the ledger still balances and the audit chain still verifies.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from compliance.audit.chain import seal_pending, verify_chain
from compliance.audit.models import AuditEvent
from compliance.consent.services import consent_record
from compliance.dsar import services
from compliance.dsar.export import _plain, export_columns, subject_rows
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import exportable_fields, registry
from compliance.pi.vocabulary import Erasure
from compliance.retention.models import LegalHold
from ledger import services as ledger
from ledger.reconciliation import check_ledger
from tests.compliance.consent.consent_helpers import current_version
from tests.conftest import wait_until
from tests.ledger.conftest import sa_id, settle, verify_kyc
from tests.personas import PASSWORD, make_api_client, make_customer, make_staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]

DOB = dt.date(1988, 4, 2)


def customer_with_history(label: str, operations) -> tuple:
    """A customer with consents, a KYC'd funded wallet, a bank account and transfers."""
    email = f"{label}.sentinel@example.co.za"
    user = make_customer(email=email)
    user.first_name, user.last_name = f"{label.title()}first", f"{label.title()}last"
    user.save()
    consent_record(
        actor=user, subject=user, purpose="direct_marketing", granted=True,
        notice_version=current_version("direct_marketing"), channel="api",
    )  # fmt: skip
    id_number = sa_id(DOB)
    record = ledger.kyc_submit(actor=user, id_number=id_number, date_of_birth=DOB, document_reference=f"DOC-{label}")
    verify_kyc(record, operations=operations, tier=2)
    wallet = ledger.wallet_ensure(owner=user)
    claim = ledger.deposit_create(
        actor=user, account=wallet.public_id, amount=90_000, currency="ZAR", channel="eft",
        funding_source=f"EFT-{label}", idempotency_key=f"dep-{uuid.uuid4()}",
    )  # fmt: skip
    settle(claim)  # a deposit is a claim until the bank's signed notification posts it (ledger ADR 0005)
    bank = ledger.bank_account_add(
        actor=user, bank_name="Demo Bank", branch_code="250655", account_number=f"6200{abs(hash(label)) % 10**7:07d}"
    )
    return (
        user,
        wallet,
        {
            "email": email,
            "id_number": id_number,
            "bank": bank.account_number,
            "first": user.first_name,
            "last": user.last_name,
        },
    )


def _made_before(row, moment) -> bool:
    for name in ("timestamp", "created_at"):
        value = getattr(row, name, None)
        if isinstance(value, dt.datetime):
            return value < moment
    return True


def approve(dsar, officer, second_officer=None, settle_balance: str | None = None):
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA step-up at filing")
    services.dsar_assign(actor=officer, dsar=dsar)
    if settle_balance:
        services.dsar_settle_balance(actor=officer, dsar=dsar, method=settle_balance)
    if dsar.type == "deletion":
        services.dsar_request_approval(actor=officer, dsar=dsar)
        return services.dsar_approve(actor=second_officer, dsar=dsar)
    return services.dsar_approve(actor=officer, dsar=dsar)


def fulfilled(dsar) -> bool:
    dsar.refresh_from_db()
    return dsar.status in (DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED)


def test_access_request_exports_every_annotated_field_and_nothing_of_others(celery_process):
    worker = celery_process("worker")
    operations = make_staff("operations")
    officer = make_staff("information_officer")
    alice, alice_wallet, _ = customer_with_history("alice", operations)
    bob, bob_wallet, bob_pi = customer_with_history("bob", operations)
    ledger.transfer_create(
        actor=alice, source_account=alice_wallet.public_id, destination_account=bob_wallet.public_id,
        amount=1_234, currency="ZAR", idempotency_key=f"tr-{uuid.uuid4()}", reference="rent",
    )  # fmt: skip

    client = make_api_client(alice)
    response = client.post("/api/v1/dsar/", {"type": "access"}, format="json")
    assert response.status_code == 201
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    approve(dsar, officer)
    wait_until(lambda: fulfilled(dsar), timeout=90, message=f"the export; worker log:\n{worker.log()}")

    export_made = dsar.export.created_at
    url = f"/api/v1/dsar/{dsar.public_id}/download/"
    refused = make_api_client(alice, mfa=False).get(url)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "mfa_step_up_required"
    assert make_api_client(bob).get(url).status_code == 404
    download = client.get(url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    bundle = zipfile.ZipFile(io.BytesIO(download.content))
    names = set(bundle.namelist())
    assert {"data.json", "README.txt"} <= names
    document = json.loads(bundle.read("data.json"))
    assert document["subject"] == str(alice.public_id)

    # Every exportable annotated field of every one of alice's records is in the document.
    checked = 0
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        # Only what existed when the bundle was built (later audit rows, e.g. the download, can't be in it).
        rows = [row for row in subject_rows(entry, alice) if _made_before(row, export_made)]
        if not rows:
            continue
        label = entry.label.lower()
        assert label in document["tables"], f"{label} missing from the export"
        assert f"tables/{label}.csv" in names
        exported = document["tables"][label]["rows"]
        exportable = [f for f in export_columns(entry) if f.name in exportable_fields(entry.model)]
        for row in rows:
            for field in exportable:
                value = _plain(getattr(row, field.name))
                if value in (None, ""):
                    continue
                assert any(item.get(field.name) == value for item in exported), f"{label}.{field.name}"
                checked += 1
    assert checked >= 10

    everything = b"".join(bundle.read(name) for name in names).decode()
    for value in bob_pi.values():
        assert value not in everything
    assert str(bob.public_id) not in everything

    downloads = AuditEvent.objects.filter(action="DSAR_DOWNLOAD", user=alice)
    assert downloads.count() == 1
    assert DsarExport.objects.get(dsar__subject=alice).download_count == 1  # counted by the service
    # Seven days later the bundle is gone.
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1)):
        gone = make_api_client(alice).get(url)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "export_expired"


def _readable_values(user) -> str:
    """Every value of every registered model that still points at ``user``, decrypted."""
    parts = []
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        held = set(
            LegalHold.objects.in_force().filter(model_label=entry.label.lower()).values_list("object_id", flat=True)
        )
        annotations = entry.annotations()
        for row in subject_rows(entry, user):
            for name, annotation in annotations.items():
                if not hasattr(row, name) or annotation.derived_from:
                    continue
                if str(row.pk) in held and annotation.erasure == Erasure.RETAIN_UNDER_LEGAL_DUTY:
                    continue
                parts.append(str(getattr(row, name)))
    return "\n".join(parts)


def test_deletion_erases_pi_keeps_what_the_law_requires_and_leaves_the_books_balanced(celery_process):
    worker = celery_process("worker")
    operations = make_staff("operations")
    officer, second = make_staff("information_officer"), make_staff("information_officer")
    carol, carol_wallet, carol_pi = customer_with_history("carol", operations)
    dave, dave_wallet, dave_pi = customer_with_history("dave", operations)
    ledger.transfer_create(
        actor=carol, source_account=carol_wallet.public_id, destination_account=dave_wallet.public_id,
        amount=5_000, currency="ZAR", idempotency_key=f"tr-{uuid.uuid4()}",
    )  # fmt: skip

    dsar = services.dsar_file(subject=carol, filed_by=carol, type="deletion", details="Please forget me")
    approve(dsar, officer, second, settle_balance="unclaimed")  # R850.00 left: a deletion never strands money
    wait_until(lambda: fulfilled(dsar), timeout=90, message=f"the erasure; worker log:\n{worker.log()}")
    dsar.refresh_from_db()

    # The subject can no longer log in, with the old password or at all.
    login = make_api_client(None).post(
        "/api/v1/auth/token/", {"email": carol_pi["email"], "password": PASSWORD}, format="json"
    )
    assert login.status_code == 401
    carol.refresh_from_db()
    assert not carol.is_active and not carol.has_usable_password()

    # Nothing of carol's PI is readable through the models except retained fields of held rows.
    readable = _readable_values(carol)
    for key in ("email", "first", "last", "bank"):
        assert carol_pi[key] not in readable, key
    # ... and the raw database holds none of it in clear either.
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_agg(t::text, ' ') FROM accounts_user t")
        users = cursor.fetchone()[0]
    for key in ("email", "first", "last"):
        assert carol_pi[key] not in users

    # Legally retained records are on dated holds, and the statement says so.
    holds = LegalHold.objects.filter(subject=carol)
    assert holds.exists() and all(hold.hold_until > timezone.now() + dt.timedelta(days=4 * 365) for hold in holds)
    assert "Kept because the law requires it" in dsar.outcome_statement and "until" in dsar.outcome_statement
    assert "ZAR 850.00 moved to the unclaimed-funds account" in dsar.outcome_statement
    # Another customer is untouched.
    dave.refresh_from_db()
    assert dave.is_active and dave.first_name == dave_pi["first"]

    assert check_ledger().ok
    seal_pending()
    assert verify_chain().ok
