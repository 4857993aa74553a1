"""Refused downloads of an export bundle leave an audit trace (issue 16): another customer's
bundle (answered 404, as an unknown id), no recent MFA (403), a closed download window (410).
Each refusal is one PERMISSION_DENIED record through kernel.access.record_denial, naming the
refused caller, and the bundle's download count does not move."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.audit.models import AuditEvent
from compliance.dsar import services
from compliance.dsar.export import export_create
from compliance.dsar.models import DsarExport
from tests.compliance.dsar.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(customer, officer, filed):
    dsar = filed("access")
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA step-up at filing")
    services.dsar_assign(actor=officer, dsar=dsar)
    services.dsar_approve(actor=officer, dsar=dsar)
    made = export_create(dsar=dsar)
    assert made is not None
    return made


def url(export: DsarExport) -> str:
    return f"/api/v1/dsar/{export.dsar.public_id}/download/"


def denials(user) -> list[dict]:
    return list(AuditEvent.objects.filter(action="PERMISSION_DENIED", user=user).values("object_id", "change_diff"))


def test_another_customers_bundle_is_refused_and_audited(export, other_customer):
    response = client_for(other_customer).get(url(export))
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    # The same answer as an id that exists nowhere: the bundle's existence is not disclosed.
    unknown = client_for(other_customer).get("/api/v1/dsar/7d1f9a52-0c4e-4c55-9a47-3f5d2b8c1e90/download/")
    assert unknown.status_code == 404 and unknown.json() == response.json()
    (first, second) = denials(other_customer)
    assert first == {"object_id": "DsarDownloadView", "change_diff": {"method": "GET", "code": "not_found"}}
    assert second == first
    export.refresh_from_db()
    assert export.download_count == 0


def test_a_download_without_a_recent_mfa_is_refused_and_audited(export, customer):
    response = client_for(customer, mfa=False).get(url(export))
    assert response.status_code == 403
    (denial,) = denials(customer)
    assert denial["object_id"] == "DsarDownloadView"
    export.refresh_from_db()
    assert export.download_count == 0


def test_an_expired_bundle_is_refused_and_audited(export, customer):
    DsarExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client_for(customer).get(url(export))
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "export_expired"
    (denial,) = denials(customer)
    assert denial == {"object_id": "DsarDownloadView", "change_diff": {"method": "GET", "code": "export_expired"}}
    assert not AuditEvent.objects.filter(action="DSAR_DOWNLOAD").exists()


def test_the_subjects_own_download_is_not_a_denial(export, customer):
    response = client_for(customer).get(url(export))
    assert response.status_code == 200
    assert denials(customer) == []
    assert AuditEvent.objects.filter(action="DSAR_DOWNLOAD", user=customer).count() == 1
