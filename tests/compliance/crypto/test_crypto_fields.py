"""Encrypted fields and blind indexes on real PostgreSQL: nothing readable in the table or a dump."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import FieldError, ValidationError
from django.db import IntegrityError, connection, transaction

from compliance.crypto.aead import FieldDecryptionError
from compliance.crypto.blind_index import blind_index, normalise
from compliance.crypto.fields import by_blind_index
from compliance.crypto.models import SubjectKey
from tests.compliance.conftest import SENTINELS, make_key_list, raw_row
from tests.database_dump import pg_dump_data
from tests.pi_testapp.models import CaseNote, Subject

DOB = datetime.date(1980, 1, 1)
ENCRYPTED_COLUMNS = ("email", "id_number", "phone", "date_of_birth", "address", "bank_account")


def subject_key_id(subject: Subject) -> int:
    # Rows that belong to a data subject are encrypted under its own key (docs/adr/0007).
    return SubjectKey.objects.get(subject_type="pi_testapp.subject", subject_id=str(subject.pk)).pk


def make_subject(**overrides) -> Subject:
    values = {**SENTINELS, "date_of_birth": DOB, **overrides}
    return Subject.objects.create(**values)


@pytest.mark.django_db
def test_table_holds_only_ciphertext_and_the_model_returns_plaintext():
    subject = make_subject()
    row = raw_row("pi_testapp_subject", subject.pk)
    raw_text = repr(row)
    for column in ENCRYPTED_COLUMNS:
        assert str(row[column]).startswith(f"s1:{subject_key_id(subject)}:"), column
    for sentinel in (*[v for k, v in SENTINELS.items() if k != "nickname"], "1980-01-01", "5550142", "Sentinel"):
        assert sentinel not in raw_text
    for index in ("email_index", "id_number_index", "phone_index"):
        assert str(row[index]).startswith("v1:") and len(row[index]) == 3 + 64

    fresh = Subject.objects.get(pk=subject.pk)
    assert fresh.email == SENTINELS["email"]
    assert fresh.id_number == SENTINELS["id_number"]
    assert fresh.phone == SENTINELS["phone"]
    assert fresh.date_of_birth == DOB
    assert fresh.address == SENTINELS["address"]
    assert fresh.bank_account == SENTINELS["bank_account"]
    # Not annotated sensitive, stored in clear: the inventory shows it as such.
    assert row["nickname"] == "PlainNick"


@pytest.mark.django_db(transaction=True)
def test_pg_dump_of_the_database_contains_no_sentinel():
    subject = make_subject()
    CaseNote.objects.create(subject=subject, note="SENTINEL-NOTE suspected fraud")
    dump = pg_dump_data()
    assert "COPY public.pi_testapp_subject" in dump
    assert "PlainNick" in dump  # the dump really contains the row
    for sentinel in (SENTINELS["email"], SENTINELS["email"].lower(), SENTINELS["id_number"], "0825550142", "5550142"):
        assert sentinel not in dump
    for sentinel in ("SENTINEL-ADDR", "SENTINEL-BANK", "62000012345", "SENTINEL-NOTE", "1980-01-01"):
        assert sentinel not in dump


@pytest.mark.django_db
def test_empty_string_and_null_stay_different():
    subject = make_subject(bank_account=None, id_number="", phone="", address="")
    row = raw_row("pi_testapp_subject", subject.pk)
    assert row["bank_account"] is None
    assert row["id_number"].startswith(f"s1:{subject_key_id(subject)}:")
    assert row["id_number_index"] is None and row["phone_index"] is None
    fresh = Subject.objects.get(pk=subject.pk)
    assert fresh.bank_account is None
    assert fresh.id_number == "" and fresh.phone == "" and fresh.address == ""


@pytest.mark.django_db
def test_date_field_accepts_iso_text_and_rejects_nonsense():
    subject = make_subject(date_of_birth="1999-12-31")
    assert Subject.objects.get(pk=subject.pk).date_of_birth == datetime.date(1999, 12, 31)
    with pytest.raises(ValidationError):
        make_subject(email="other@example.com", date_of_birth="31/12/1999")


@pytest.mark.django_db
def test_full_clean_validates_the_plaintext():
    subject = Subject(email="not-an-email", phone="0" * 21)
    with pytest.raises(ValidationError) as excinfo:
        subject.full_clean()
    assert set(excinfo.value.message_dict) >= {"email", "phone"}


@pytest.mark.django_db
@pytest.mark.parametrize("lookup", ["phone", "phone__icontains", "phone__in", "email__startswith"])
def test_filtering_on_an_encrypted_column_is_refused(lookup):
    make_subject()
    value = ["x"] if lookup.endswith("__in") else "082"
    with pytest.raises(FieldError, match="blind index"):
        list(Subject.objects.filter(**{lookup: value}))


@pytest.mark.django_db
def test_null_tests_on_encrypted_columns_still_work():
    with_account = make_subject()
    without = make_subject(email="nobank@example.com", bank_account=None)
    assert list(Subject.objects.filter(bank_account=None)) == [without]
    assert list(Subject.objects.exclude(bank_account=None)) == [with_account]
    assert list(Subject.objects.filter(bank_account__isnull=False)) == [with_account]


@pytest.mark.django_db
def test_blind_index_lookups_use_the_normalised_value():
    subject = make_subject()
    other = make_subject(email="someone.else@example.com", phone="+27 82 555 0199", id_number="9001015009086")
    assert list(Subject.objects.filter(phone_index__matches="+27825550142")) == [subject]
    assert list(Subject.objects.filter(phone_index__matches="0027 82 555 0142")) == [subject]
    assert list(Subject.objects.filter(email_index__matches="  sentinel.person@example.com ")) == [subject]
    assert list(by_blind_index(Subject, "id_number", "800101 5009 087")) == [subject]
    assert list(by_blind_index(Subject.objects.all(), "phone", "082 555 0199")) == [other]
    assert list(Subject.objects.filter(phone_index=blind_index("phone", "0825550142"))) == [subject]
    assert not Subject.objects.filter(phone_index__matches="").exists()
    assert not Subject.objects.filter(phone_index__matches="0825550000").exists()
    with pytest.raises(FieldError, match="no blind index for 'address'"):
        by_blind_index(Subject, "address", "x")


def test_normalisers():
    assert normalise("email", " A.B@Example.COM ") == "a.b@example.com"
    assert normalise("phone", "082 555 0142") == "+27825550142"
    assert normalise("phone", "+27 (82) 555-0142") == "+27825550142"
    assert normalise("phone", "0044 20 7946 0000") == "+442079460000"
    assert normalise("id_number", "800101 5009 087") == "8001015009087"
    with pytest.raises(ValueError, match="Unknown blind-index normaliser"):
        normalise("shoe_size", "42")


@pytest.mark.django_db
def test_unique_blind_index_refuses_the_same_email_twice():
    make_subject()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_subject(email="SENTINEL.person@example.com ")


@pytest.mark.django_db
def test_saving_only_the_source_field_updates_its_index():
    subject = make_subject()
    subject.phone = "082 555 0177"
    subject.save(update_fields=["phone"])
    assert list(Subject.objects.filter(phone_index__matches="0825550177")) == [subject]
    assert not Subject.objects.filter(phone_index__matches="0825550142").exists()


@pytest.mark.django_db
def test_a_ciphertext_copied_into_another_column_fails_loudly():
    subject = make_subject()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pi_testapp_subject SET address = phone WHERE id = %s", [subject.pk])
    with pytest.raises(FieldDecryptionError, match=r"pi_testapp\.subject\.address"):
        Subject.objects.get(pk=subject.pk)


@pytest.mark.django_db
def test_wrong_key_raises_instead_of_returning_ciphertext(settings):
    subject = make_subject()
    settings.FIELD_KEYS = {
        **settings.FIELD_KEYS,
        "FIELD_ENCRYPTION_KEYS": make_key_list((1, b"\x77" * 32)),
    }
    with pytest.raises(FieldDecryptionError, match="Authentication failed") as excinfo:
        Subject.objects.get(pk=subject.pk)
    assert "v1:" not in str(excinfo.value)
    assert SENTINELS["phone"] not in str(excinfo.value)


@pytest.mark.django_db
def test_missing_key_version_raises(settings):
    subject = make_subject()
    settings.FIELD_KEYS = {**settings.FIELD_KEYS, "FIELD_ENCRYPTION_KEYS": make_key_list((2, b"\x77" * 32))}
    with pytest.raises(FieldDecryptionError, match="No key version 1"):
        Subject.objects.get(pk=subject.pk)
    # Writing still works under the configured key, and reads back.
    written = Subject.objects.create(email="new@example.com")
    assert raw_row("pi_testapp_subject", written.pk)["email"].startswith(f"s1:{subject_key_id(written)}:")
    wrapped = SubjectKey.objects.get(pk=subject_key_id(written)).wrapped_key
    assert wrapped.startswith("v2:")  # the new subject key is wrapped by the configured ring version
    assert Subject.objects.only("email").filter(pk=written.pk).get().email == "new@example.com"
