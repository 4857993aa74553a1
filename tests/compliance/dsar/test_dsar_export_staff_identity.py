"""Issue 15 (low): the DSAR export disclosed staff identifiers and the officer's
identity-verification text. Staff now appear by role only; the verification notes stay inside."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

import pytest
from django.utils import timezone

from compliance.dsar import services
from compliance.dsar.export import build_bundle
from tests.personas import make_customer, make_staff

EVIDENCE = "Called back on the number on file; passport A12345678 seen by officer"


@pytest.mark.django_db
def test_the_bundle_names_staff_by_role_only():
    subject = make_customer()
    officer = make_staff("information_officer", email="officer.named@staff.example.test")
    officer.first_name, officer.last_name = "Nomvula", "Officername"
    officer.save(update_fields=["first_name", "last_name"])
    dsar = services.dsar_file(subject=subject, filed_by=subject, type="access", details="All my data please")
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence=EVIDENCE)
    services.dsar_assign(actor=officer, dsar=dsar)
    services.dsar_approve(actor=officer, dsar=dsar)
    bundle, _ = build_bundle(subject=subject, dsar=dsar, generated_at=timezone.now())
    archive = zipfile.ZipFile(BytesIO(bundle))
    everything = "".join(archive.read(name).decode() for name in archive.namelist())
    for leaked in (str(officer.public_id), officer.email, "Nomvula", "Officername", EVIDENCE, "A12345678"):
        assert leaked not in everything, leaked
    rows = json.loads(archive.read("data.json"))["tables"]["compliance.datasubjectrequest"]["rows"]
    (row,) = rows
    assert row["identity_verified_by"] == "Information Officer"
    assert row["decided_by"] == "Information Officer"
    assert row["subject"] == str(subject.public_id) and row["filed_by"] == str(subject.public_id)
    assert "identity_evidence" not in row
    # The request's own words stay in: they are the subject's.
    assert row["details"] == "All my data please"
