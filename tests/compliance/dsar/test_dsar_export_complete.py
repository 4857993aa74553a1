"""The access export is complete and readable (issue 16): every relation named (a consent's
purpose and notice version, every posting's journal entry type and reference — an incoming
transfer too), a "who accessed your data" section from the audit trail (staff by role and a
reference only), CSV cells JSON-encoded (never Python reprs), a data dictionary, a README in plain
words with the Information Officer's contact, recipients and sources; portability in a documented
JSON Schema, distinct from the access bundle.

The customer files over the API and downloads over the API; officers and operations act through
the services and the admin as they would.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.urls import reverse

from compliance.dsar import services
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest
from compliance.pi.vocabulary import RETENTION_POLICIES
from ledger import services as ledger
from tests.compliance.dsar.test_dsar_fulfilment import customer_with_history
from tests.personas import make_api_client, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
REVEAL_REASON = "Checking the address before a call back"


def bundle_for(subject, officer, type_: str = "access") -> zipfile.ZipFile:
    client = make_api_client(subject)
    response = client.post("/api/v1/dsar/", {"type": type_}, format="json")
    assert response.status_code == 201, response.content
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA step-up at filing")
    services.dsar_assign(actor=officer, dsar=dsar)
    services.dsar_approve(actor=officer, dsar=dsar)
    assert export_create(dsar=dsar) is not None
    download = client.get(f"/api/v1/dsar/{dsar.public_id}/download/")
    assert download.status_code == 200
    return zipfile.ZipFile(io.BytesIO(download.content))


@pytest.fixture
def people(client):
    operations = make_staff("operations")
    officer = make_staff("information_officer")
    alice, alice_wallet, _ = customer_with_history("alice", operations)
    bob, bob_wallet, _ = customer_with_history("bob", operations)
    # An incoming transfer: created by Bob, the posting is Alice's.
    ledger.transfer_create(
        actor=bob, source_account=bob_wallet.public_id, destination_account=alice_wallet.public_id,
        amount=4_321, currency="ZAR", idempotency_key=f"tr-{uuid.uuid4()}", reference="rent for May",
    )  # fmt: skip
    # The officer opens Alice's profile in the admin (masked: not a read) and reveals it with a
    # reason: a read of her PI, audited (PI_ACCESS).
    otp_admin_login(client, officer)
    assert client.get(reverse("admin:accounts_user_change", args=[alice.pk])).status_code == 200
    assert client.post(f"/admin/accounts/user/{alice.pk}/reveal/", {"reason": REVEAL_REASON}).status_code in (200, 302)
    return {"alice": alice, "bob": bob, "operations": operations, "officer": officer}


def test_the_access_bundle_names_every_relation_and_who_accessed_the_data(people):
    alice, officer, operations = people["alice"], people["officer"], people["operations"]
    archive = bundle_for(alice, officer)
    names = set(archive.namelist())
    assert {"data.json", "who_accessed.csv", "data_dictionary.json", "data_dictionary.csv", "README.txt"} <= names
    document = json.loads(archive.read("data.json"))
    tables = document["tables"]

    (consent,) = tables["compliance.consentevent"]["rows"]
    assert consent["purpose"] == {"code": "direct_marketing", "name": "Direct marketing by us"}
    assert consent["notice"]["purpose"] == "direct_marketing" and consent["notice"]["version"] >= 1

    postings = tables["ledger.posting"]["rows"]
    assert postings and all({"type", "reference", "id"} <= set(p["entry"]) for p in postings)
    incoming = [p for p in postings if p["entry"]["reference"] == "rent for May"]
    assert [(p["entry"]["type"], p["amount"]) for p in incoming] == [("Transfer", 4321)]

    accessed = document["who_accessed"]
    actions = {(row["who"], row["action"]) for row in accessed}
    assert any(who == "Operations" and "KYC" in action.upper() for who, action in actions), actions
    reads = [row for row in accessed if row["purpose"] == REVEAL_REASON]
    assert reads and reads[0]["who"] == "Information Officer" and reads[0]["about"] == "user"
    assert any(row["about"] == "data-subject request" for row in accessed), "the DSAR's own steps are listed"
    assert all(
        row["staff_reference"].startswith("staff-") for row in accessed if row["who"] != "the platform (automatic)"
    )

    everything = "".join(archive.read(name).decode() for name in names)
    for staff in (officer, operations, people["bob"]):
        assert str(staff.public_id) not in everything
        assert staff.email not in everything
    # CSV: text as is, everything else JSON — never a Python repr.
    for name in names:
        if name.endswith(".csv"):
            text = archive.read(name).decode()
            for bad in ("{'", "': ", "True", "False", "None"):
                assert bad not in text, (name, bad)
    consent_csv = next(csv.DictReader(io.StringIO(archive.read("tables/compliance.consentevent.csv").decode())))
    assert json.loads(consent_csv["purpose"])["code"] == "direct_marketing"
    assert consent_csv["granted"] == "true"


def test_the_data_dictionary_and_readme_speak_plainly(people):
    archive = bundle_for(people["alice"], people["officer"])
    dictionary = json.loads(archive.read("data_dictionary.json"))
    tables = json.loads(archive.read("data.json"))["tables"]
    described = {(row["table"], row["column"]) for row in dictionary}
    for label, table in tables.items():
        for column in table["rows"][0]:
            assert (label, column) in described, (label, column)
    email = next(row for row in dictionary if row["table"] == "accounts.user" and row["column"] == "email")
    assert email["personal_information"] is True and email["purposes"] and email["kept"] and email["source"]
    assert "s11(1)" in email["lawful_basis"]

    readme = archive.read("README.txt").decode()
    assert settings.INFORMATION_OFFICER_CONTACT["email"] in readme
    assert settings.INFORMATION_REGULATOR_CONTACT["email"] in readme
    assert "Who receives it" in readme and "Source:" in readme
    assert "Account management" in readme and "account_management" not in readme
    assert "Consent events (" in readme, "tables by their human name"
    # Names keep their own capitals (regression: str.capitalize() gave "Kyc records", "Id number").
    assert "KYC records (" in readme and "DSAR events (" in readme and "  - ID number: " in readme, readme
    names = {(row["table"], row["column"]): (row["table_name"], row["name"]) for row in dictionary}
    assert names[("ledger.kycrecord", "id_number")] == ("KYC records", "ID number")
    assert names[("compliance.consentevent", "source_ip")] == ("Consent events", "Source IP address")
    text = readme + archive.read("data_dictionary.csv").decode()
    for garbled in ("Kyc ", "Id number", "Source ip", "Dsar "):
        assert garbled not in text, garbled
    # Retention periods in words, never a policy's code (the inventory's texts name them by code).
    assert "for the retention period (5 years after the consent is withdrawn or the relationship ends)" in readme
    for code in (code for code in RETENTION_POLICIES if "_" in code):  # "session" is also a word
        assert code not in text, code


def test_portability_is_a_documented_schema_distinct_from_the_access_bundle(people):
    archive = bundle_for(people["alice"], people["officer"], "portability")
    names = set(archive.namelist())
    assert "portability.json" in names and "portability.schema.json" in names
    assert "data.json" not in names and "who_accessed.csv" not in names
    schema = json.loads(archive.read("portability.schema.json"))
    assert schema == json.loads((ROOT / "docs" / "dsar-portability.schema.json").read_text())
    document = json.loads(archive.read("portability.json"))
    jsonschema.validate(document, schema)
    assert document["records"]["accounts.user"]["rows"][0]["email"] == people["alice"].email
    broken = {**document, "records": {"x": {"rows": []}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
