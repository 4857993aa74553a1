"""The subject-key store (docs/adr/0007, "A key store outside the main backups"): routing, the
deploy checks, and every value a subject's lifecycle writes actually under the subject's key.

The cross-database behaviour itself (two real PostgreSQL databases, a backup taken before an
erasure) is proven in test_key_store_backups.py; the suite runs in single-database mode.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from accounts import services as accounts
from compliance.crypto.checks import check_subject_key_store, check_subject_keys_moved
from compliance.crypto.fields import encrypted_fields
from compliance.crypto.models import FieldKeyVersion, SubjectKey
from compliance.crypto.subject_keys import ref_for
from compliance.crypto.subject_rows import _rows_of, seal_rows, subject_models
from compliance.dsar import services as dsar
from kernel.db_router import KEYS, ReportReadsRouter, SubjectKeysRouter, key_store_alias, reporting_reads
from ledger import services as ledger
from ledger.models import BankAccount
from tests.compliance.crypto.key_store_steps import field_ring_values
from tests.ledger.conftest import sa_id
from tests.personas import make_staff

# The routers and checks read settings.DATABASES; no connection is opened to these made-up servers.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

MAIN = {"ENGINE": "django.db.backends.postgresql", "NAME": "fintech", "HOST": "db1,db2", "PORT": "5432,5432"}
REPLICA = {**MAIN, "HOST": "standby"}
KEY_STORE = {**MAIN, "NAME": "fintech_keys", "HOST": "keys.internal", "PORT": "5432"}


def _route(databases: dict) -> dict:
    with override_settings(DATABASES=databases):
        keys_router, replica_router = SubjectKeysRouter(), ReportReadsRouter()
        with reporting_reads():
            return {
                "alias": key_store_alias(),
                "read key": keys_router.db_for_read(SubjectKey),
                "write key": keys_router.db_for_write(SubjectKey),
                "read other": keys_router.db_for_read(FieldKeyVersion),
                "write other": keys_router.db_for_write(FieldKeyVersion),
                "report read other": replica_router.db_for_read(FieldKeyVersion),
            }


def test_subject_keys_go_to_the_key_store_when_it_is_configured_and_never_to_the_replica():
    assert _route({"default": MAIN, "replica": REPLICA, KEYS: KEY_STORE}) == {
        "alias": KEYS,
        "read key": KEYS,
        "write key": KEYS,
        "read other": None,
        "write other": None,
        "report read other": "replica",
    }
    # Single-database mode: the key table on the primary, even inside a report's reads.
    assert _route({"default": MAIN, "replica": REPLICA}) == {
        "alias": "default",
        "read key": "default",
        "write key": "default",
        "read other": None,
        "write other": None,
        "report read other": "replica",
    }


def test_only_the_key_table_is_migrated_on_the_key_store_and_default_is_unchanged():
    router = SubjectKeysRouter()
    assert router.allow_migrate(KEYS, "compliance", model_name="subjectkey") is True
    assert router.allow_migrate(KEYS, "compliance", model_name="fieldkeyversion") is False
    assert router.allow_migrate(KEYS, "accounts", model_name="user") is False
    assert router.allow_migrate(KEYS, "contenttypes", model_name="contenttype") is False
    # A RunPython / RunSQL without hints (a data migration) never runs on the key store.
    assert router.allow_migrate(KEYS, "compliance") is False
    assert router.allow_migrate("default", "compliance", model_name="subjectkey") is None
    assert router.allow_migrate("default", "accounts", model_name="user") is None
    assert ReportReadsRouter().allow_migrate("replica", "compliance", model_name="subjectkey") is False


@pytest.mark.parametrize(
    ("databases", "failing"),
    [
        ({"default": MAIN}, True),  # no key store: the main backups would hold the keys
        ({"default": MAIN, KEYS: {**MAIN}}, True),  # the same database under another alias
        ({"default": MAIN, KEYS: {**MAIN, "HOST": "db2", "PORT": ""}}, True),  # one of main's hosts, same name
        ({"default": MAIN, KEYS: {**MAIN, "NAME": "fintech_keys"}}, False),  # another database
        ({"default": MAIN, KEYS: KEY_STORE}, False),  # another server
    ],
)
def test_deploy_check_e125_requires_a_separate_key_store(databases, failing):
    with override_settings(DATABASES=databases):
        errors = check_subject_key_store(None)
    assert [e.id for e in errors] == (["compliance.E125"] if failing else [])


@pytest.mark.django_db
def test_deploy_check_e126_fails_while_the_main_database_still_holds_keys():
    SubjectKey.objects.create(subject_type="accounts.user", subject_id="999999", wrapped_key="v1:x")
    # Single-database mode: the keys belong in the main database.
    assert check_subject_keys_moved(None) == []
    with override_settings(DATABASES={"default": connection.settings_dict, KEYS: KEY_STORE}):
        errors = check_subject_keys_moved(None)
    assert [e.id for e in errors] == ["compliance.E126"] and "move_subject_keys" in errors[0].hint
    SubjectKey.objects.all().delete()
    with override_settings(DATABASES={"default": connection.settings_dict, KEYS: KEY_STORE}):
        assert check_subject_keys_moved(None) == []


SENTINELS = {
    "email": "thandi.keystoresentinel7741@example.co.za",
    "first_name": "Thandikeystoresentinel",
    "last_name": "Dlaminikeystoresentinel",
    "phone": "+27825557741",
}


def sealed_tables(subject) -> set[str]:
    """Tables holding a value of the subject under its own key (so the check above saw them)."""
    found = set()
    for model in subject_models("accounts.user"):
        pks = list(_rows_of(model, ref_for(subject)).values_list("pk", flat=True))
        for column in encrypted_fields(model):
            with connection.cursor() as cursor:
                table = model._meta.db_table
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE id = ANY(%s) AND "{column.column}"::text LIKE %s',  # noqa: S608
                    [pks, "s1:%"],
                )
                if cursor.fetchone()[0]:
                    found.add(model._meta.db_table)
    return found


@pytest.mark.django_db
def test_a_subjects_values_are_all_under_its_own_key_before_erasure():
    """What the restore drill's subject goes through (register, profile, deletion request filed,
    verified, assigned, sent for approval): no value of it is left under the field ring, so a
    backup taken before the erasure holds nothing the field ring alone decrypts."""
    officer = make_staff("information_officer")
    subject = accounts.customer_register(
        email=SENTINELS["email"], password=uuid.uuid4().hex, first_name=SENTINELS["first_name"]
    )
    subject.last_name, subject.phone = SENTINELS["last_name"], SENTINELS["phone"]
    subject.save()
    # What a customer adds before asking to be erased: the KYC record FICA keeps, a payout account.
    dob = timezone.now().date().replace(year=1988)
    ledger.kyc_submit(actor=subject, id_number=sa_id(dob), date_of_birth=dob, document_reference="DOCKEYSTORE7741")
    ledger.bank_account_add(
        actor=subject, bank_name="Keystore Bank", branch_code="250655", account_number="62077417741"
    )
    request = dsar.dsar_file(subject=subject, filed_by=subject, type="deletion")
    request = dsar.dsar_verify_identity(actor=officer, dsar=request, evidence="Call-back on the number on file")
    request = dsar.dsar_assign(actor=officer, dsar=request)
    dsar.dsar_request_approval(actor=officer, dsar=request)

    assert field_ring_values(subject) == []
    assert {"ledger_kycrecord", "ledger_bankaccount", "accounts_user"} <= sealed_tables(subject)
    # The scan does see a value written under the field ring (as QuerySet.update would write it).
    with transaction.atomic():
        seal_rows(BankAccount, BankAccount.objects.filter(owner=subject), to_hold=True)
    assert field_ring_values(subject) and all(v.startswith("ledger_bankaccount.") for v in field_ring_values(subject))
    with connection.cursor() as cursor:
        cursor.execute('SELECT "email"::text FROM "accounts_user" WHERE id = %s', [subject.pk])
        (stored,) = cursor.fetchone()
    key = SubjectKey.objects.get(subject_type="accounts.user", subject_id=str(subject.pk))
    assert stored.startswith(f"s1:{key.pk}:")
