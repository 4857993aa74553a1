"""Must-show for issue 4 applied to the product: a customer created through the real API and
services, with recognisable sentinel values, leaves none of them in clear in PostgreSQL (raw
SELECTs and a ``pg_dump --data-only``); reading through the models returns them; login by e-mail
finds the user through the blind index, whatever the case of the address."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import TOTPDevice, User
from compliance.audit.models import AuditEvent
from compliance.crypto.blind_index import blind_index
from compliance.pi.selectors import subject_by_email, subject_by_id_number, subjects_by_identifier
from ledger import services as ledger_services
from ledger.kyc import luhn_check_digit
from ledger.models import BankAccount, KycRecord
from tests.compliance.conftest import raw_row
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.database_dump import pg_dump_data
from tests.personas import PASSWORD, enrol_totp, make_api_client, make_staff, otp_admin_login

EMAIL = "Sentinel.Applied@Example.COM"
FIRST, LAST = "Sentinelfirstname", "Sentinellastname"
PHONE_TYPED, PHONE_E164 = "082 555 0177", "+27825550177"
DOB = dt.date(1977, 3, 4)
ID_NUMBER = "770304512308" + luhn_check_digit("770304512308")
ACCOUNT_NUMBER = "62077712345"
# Every way a sentinel could appear in clear in a dump.
CLEAR_FORMS = (
    EMAIL,
    EMAIL.lower(),
    FIRST,
    LAST,
    PHONE_TYPED,
    PHONE_E164,
    "825550177",
    ID_NUMBER,
    DOB.isoformat(),
    ACCOUNT_NUMBER,
)


def _create_customer(*, with_consent: bool = True) -> tuple[User, TOTPDevice]:
    # Consent rows are append-only (a trigger refuses TRUNCATE of a non-empty table), so the
    # transactional test, whose database is flushed afterwards, registers without a choice.
    seed_purposes()
    consents = [{"purpose": "direct_marketing", "granted": True, "notice_version": current_version("direct_marketing")}]
    response = APIClient().post(
        "/api/v1/auth/register/",
        {
            "email": EMAIL,
            "password": PASSWORD,
            "first_name": FIRST,
            "last_name": LAST,
            "consents": consents if with_consent else [],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(public_id=response.json()["public_id"])
    patched = make_api_client(user).patch("/api/v1/me/", {"phone": PHONE_TYPED}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["phone"] == PHONE_E164
    device = enrol_totp(user)
    ledger_services.kyc_submit(actor=user, id_number=ID_NUMBER, date_of_birth=DOB, document_reference="DOC-1")
    ledger_services.bank_account_add(actor=user, bank_name="Bank", branch_code="250655", account_number=ACCOUNT_NUMBER)
    return user, device


def _assert_no_clear_sentinel(values: object) -> None:
    text = str(values)
    for sentinel in CLEAR_FORMS:
        assert sentinel not in text, sentinel


@pytest.mark.django_db(transaction=True)
def test_a_customer_leaves_no_sentinel_in_clear_and_reads_back_through_the_models():
    user, device = _create_customer(with_consent=False)
    kyc = KycRecord.objects.get(user=user)
    bank = BankAccount.objects.get(owner=user)

    # Raw rows: ciphertext under the customer's own key (``s1:<key id>:``) and indexes only.
    user_row = raw_row("accounts_user", user.pk)
    _assert_no_clear_sentinel(user_row)
    for column in ("email", "first_name", "last_name", "phone"):
        assert user_row[column].startswith("s1:"), column
    assert user_row["email_index"] == blind_index("email", EMAIL.lower())
    assert user_row["phone_index"] == blind_index("phone", PHONE_E164)
    kyc_row = raw_row("ledger_kycrecord", kyc.pk)
    _assert_no_clear_sentinel(kyc_row)
    assert kyc_row["id_number_index"] == blind_index("id_number", ID_NUMBER)
    bank_row = raw_row("ledger_bankaccount", bank.pk)
    _assert_no_clear_sentinel(bank_row)
    device_row = raw_row("accounts_totpdevice", device.pk)
    assert device_row["key"].startswith("s1:") and device.key not in str(device_row)

    # The whole database, every table (audit trail, change trail, consent evidence, lockout...).
    dump = pg_dump_data()
    assert "COPY public.accounts_user" in dump and str(user.public_id) in dump  # the rows are there
    assert "COPY public.ledger_kycrecord" in dump and str(kyc.public_id) in dump
    _assert_no_clear_sentinel(dump)
    assert device.key not in dump

    # Through the models: the plaintext.
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.email, fresh.first_name, fresh.last_name, fresh.phone) == (EMAIL.lower(), FIRST, LAST, PHONE_E164)
    fresh_kyc = KycRecord.objects.get(pk=kyc.pk)
    assert (fresh_kyc.id_number, fresh_kyc.date_of_birth) == (ID_NUMBER, DOB)
    assert BankAccount.objects.get(pk=bank.pk).account_number == ACCOUNT_NUMBER
    assert TOTPDevice.objects.get(pk=device.pk).key == device.key


@pytest.mark.django_db
def test_login_by_e_mail_goes_through_the_blind_index_whatever_the_case():
    seed_purposes()
    response = APIClient().post(
        "/api/v1/auth/register/", {"email": EMAIL, "password": PASSWORD, "first_name": FIRST}, format="json"
    )
    assert response.status_code == 201
    user = User.objects.get(public_id=response.json()["public_id"])
    with CaptureQueriesContext(connection) as queries:
        login = APIClient().post("/api/v1/auth/token/", {"email": f"  {EMAIL.upper()} ", "password": PASSWORD})
    assert login.status_code == 200, login.content
    assert set(login.json()) == {"access", "refresh"}
    user_lookups = [q["sql"] for q in queries.captured_queries if 'FROM "accounts_user"' in q["sql"]]
    assert any('"accounts_user"."email_index" IN' in sql for sql in user_lookups)
    # Neither the address nor any form of it was sent to the database.
    assert not any(EMAIL.lower() in q["sql"].lower() for q in queries.captured_queries)
    # Every e-mail lookup is case- and space-insensitive, and exact.
    for typed in (EMAIL, EMAIL.lower(), EMAIL.upper(), f" {EMAIL} "):
        assert User.objects.get_by_email(typed).pk == user.pk
        assert User.objects.get_by_natural_key(typed).pk == user.pk
        assert subject_by_email(typed).pk == user.pk
    assert not User.objects.filter_by_email("sentinel.applied@example.co").exists()
    wrong = APIClient().post("/api/v1/auth/token/", {"email": "sentinel.applied@example.co", "password": PASSWORD})
    assert wrong.status_code == 401


@pytest.mark.django_db
def test_duplicate_registration_is_detected_through_the_index_in_any_case():
    User.objects.create_user(email=EMAIL, password=PASSWORD)
    response = APIClient().post("/api/v1/auth/register/", {"email": EMAIL.upper(), "password": PASSWORD})
    # Answered like a new registration (no account enumeration), but the unique blind index
    # refused the second row: still one user, and the attempt is audited against the owner.
    assert response.status_code == 201
    assert User.objects.count() == 1
    owner = User.objects.get()
    assert AuditEvent.objects.filter(action="REGISTER_DUPLICATE", object_id=str(owner.public_id)).count() == 1


@pytest.mark.django_db
def test_filtering_on_the_encrypted_email_is_refused_not_silently_empty():
    from django.core.exceptions import FieldError

    User.objects.create_user(email=EMAIL, password=PASSWORD)
    with pytest.raises(FieldError):
        User.objects.filter(email=EMAIL).exists()


@pytest.mark.django_db
def test_a_dsar_lookup_by_id_number_finds_the_subject_through_the_kyc_blind_index():
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    other = User.objects.create_user(email="other.subject@example.test", password=PASSWORD)
    ledger_services.kyc_submit(actor=user, id_number=ID_NUMBER, date_of_birth=DOB, document_reference="DOC-1")
    spaced = f"{ID_NUMBER[:6]} {ID_NUMBER[6:10]} {ID_NUMBER[10:]}"
    assert subject_by_id_number(spaced).pk == user.pk
    assert list(subjects_by_identifier(kind="id_number", value=ID_NUMBER)) == [user]
    assert subject_by_id_number("8001015009087") is None
    assert other not in subjects_by_identifier(kind="id_number", value=ID_NUMBER)


@pytest.mark.django_db
def test_the_admin_kyc_queue_searches_by_exact_id_number(client):
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    decoy = User.objects.create_user(email="decoy@example.test", password=PASSWORD)
    record = ledger_services.kyc_submit(actor=user, id_number=ID_NUMBER, date_of_birth=DOB, document_reference="DOC-1")
    decoy_id = "850607" + "0123" + "08"
    ledger_services.kyc_submit(
        actor=decoy,
        id_number=decoy_id + luhn_check_digit(decoy_id),
        date_of_birth=dt.date(1985, 6, 7),
        document_reference="DOC-2",
    )
    # The KYC queue in the admin (superuser here: roles.py grants operations the queue's future
    # verification model, not the record itself).
    admin = make_staff("admin", superuser=True)
    otp_admin_login(client, admin)
    found = client.get("/admin/ledger/kycrecord/", {"q": f"{ID_NUMBER[:6]}-{ID_NUMBER[6:]}"})
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [record]
    partial = client.get("/admin/ledger/kycrecord/", {"q": ID_NUMBER[:6]})
    assert list(partial.context["cl"].result_list) == []


@pytest.mark.django_db
def test_dsar_export_and_erasure_walk_the_real_models_of_the_inventory():
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.models import BackupCode
    from compliance.consent.models import ConsentEvent
    from compliance.dsar import services as dsar_services
    from compliance.dsar.erasure import erase_subject
    from compliance.dsar.export import collect
    from compliance.retention.models import LegalHold
    from ledger.models import LedgerAccount, Posting

    user, device = _create_customer()
    operations = make_staff("operations")
    kyc = KycRecord.objects.get(user=user)
    ledger_services.kyc_decide(actor=operations, record=kyc.public_id, verify=True, tier=1)
    wallet = LedgerAccount.objects.get(owner=user)
    ledger_services.deposit_create(
        actor=user, account=wallet.public_id, amount=12_345, currency="ZAR", channel="eft",
        funding_source="EFT-REF-1", idempotency_key="dsar-deposit-1", reference="Salary",
    )  # fmt: skip

    # Access: every annotated table reaches the subject through its declared path; secrets stay out.
    tables = collect(user)
    assert tables["accounts.user"]["rows"][0]["email"] == EMAIL.lower()
    assert tables["accounts.user"]["rows"][0]["phone"] == PHONE_E164
    assert tables["ledger.kycrecord"]["rows"][0]["id_number"] == ID_NUMBER
    assert tables["ledger.bankaccount"]["rows"][0]["account_number"] == ACCOUNT_NUMBER
    assert [row["amount"] for row in tables["ledger.posting"]["rows"]] == [12_345]
    assert len(tables["compliance.consentevent"]["rows"]) == 1
    assert "accounts.backupcode" not in tables or "digest" not in tables["accounts.backupcode"]["rows"][0]
    rows = {label: table["rows"] for label, table in tables.items()}
    exported = str(rows)
    assert "email_index" not in exported and "'password'" not in exported
    assert device.key not in exported, [label for label, r in rows.items() if device.key in str(r)]

    # Deletion: four eyes, then the inventory decides field by field. Money in flight blocks a
    # deletion (issue 16): the unsettled deposit expires first (voided; its postings stay).
    from datetime import timedelta

    from django.utils import timezone

    from ledger.settlement.services import expire_pending_deposits

    expire_pending_deposits(now=timezone.now() + timedelta(days=30))
    first, second = make_staff("information_officer"), make_staff("information_officer")
    dsar = dsar_services.dsar_file(subject=user, filed_by=user, type="deletion", details="Please delete me")
    dsar_services.dsar_verify_identity(actor=first, dsar=dsar, evidence="MFA session")
    dsar_services.dsar_assign(actor=first, dsar=dsar)
    dsar_services.dsar_request_approval(actor=first, dsar=dsar)
    dsar_services.dsar_approve(actor=second, dsar=dsar)
    assert OutstandingToken.objects.filter(user=user).exists()
    assert erase_subject(dsar=dsar) is not None

    erased = User.objects.get(pk=user.pk)
    assert erased.email.startswith("erased-") and erased.email.endswith("@erased.invalid")
    assert (erased.first_name, erased.last_name, erased.phone, erased.phone_index) == ("", "", None, None)
    assert erased.email_index == blind_index("email", erased.email)
    assert not erased.is_active and not erased.has_usable_password()
    assert not User.objects.filter_by_email(EMAIL).exists()
    assert not TOTPDevice.objects.filter(user=user).exists() and not BackupCode.objects.filter(user=user).exists()
    assert not OutstandingToken.objects.filter(user=user).exists()
    # Kept under a legal duty, and held until the retention end: KYC, bank account, money history, consent.
    assert KycRecord.objects.get(pk=kyc.pk).id_number == ID_NUMBER
    assert BankAccount.objects.get(owner=user).account_number == ACCOUNT_NUMBER
    assert Posting.objects.filter(account=wallet).count() == 1
    assert ConsentEvent.objects.filter(subject=user).count() == 1
    held = set(LegalHold.objects.filter(subject=user).values_list("model_label", flat=True))
    assert {"ledger.kycrecord", "ledger.bankaccount", "ledger.posting", "ledger.ledgeraccount"} <= held
    assert {"compliance.consentevent", "compliance.auditevent"} <= held
    assert "accounts.user" not in held


@pytest.mark.django_db
def test_the_admin_user_search_finds_an_exact_e_mail_or_phone_through_the_index(client):
    user = User.objects.create_user(email=EMAIL, password=PASSWORD, phone=PHONE_E164)
    User.objects.create_user(email="decoy.person@example.test", password=PASSWORD)
    admin = make_staff("admin", superuser=True)
    otp_admin_login(client, admin)
    for term in (EMAIL.upper(), PHONE_TYPED):
        page = client.get("/admin/accounts/user/", {"q": term})
        assert page.status_code == 200
        assert list(page.context["cl"].result_list) == [user]
    assert list(client.get("/admin/accounts/user/", {"q": "sentinel"}).context["cl"].result_list) == []


@pytest.mark.django_db
def test_an_admin_edit_stores_the_phone_in_e164_and_refuses_an_invalid_one(client):
    user = User.objects.create_user(email=EMAIL, password=PASSWORD, first_name=FIRST)
    admin = make_staff("admin", superuser=True)
    otp_admin_login(client, admin)
    url = f"/admin/accounts/user/{user.pk}/change/"
    # PI is masked in the admin: editing it starts with a reveal (with a reason, audited).
    client.post(f"/admin/accounts/user/{user.pk}/reveal/", {"reason": "customer asked to fix the phone"})
    form = {"email": EMAIL.lower(), "first_name": FIRST, "last_name": "", "is_active": "on"}
    refused = client.post(url, {**form, "phone": "12345"})
    assert refused.status_code == 200 and "phone" in refused.context["adminform"].form.errors
    assert User.objects.get(pk=user.pk).phone is None
    saved = client.post(url, {**form, "phone": PHONE_TYPED})
    assert saved.status_code == 302
    fresh = User.objects.get(pk=user.pk)
    assert fresh.phone == PHONE_E164 and fresh.phone_index == blind_index("phone", PHONE_E164)
