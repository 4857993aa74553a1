"""PI is masked in every admin list and change view, for every role (issues 15 and 17).

Recognisable PI is seeded through the services; each staff role (and a superuser) opens every
change list and change view it may open; no sentinel value appears in the HTML, and browsing
writes no PI_ACCESS. A reveal needs a reason and the category's permission, writes one PI_ACCESS
with the reason and the field names (never the values), and shows the values to that user for a
short window; without the permission it is refused with exactly one PERMISSION_DENIED.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from accounts import roles
from compliance.audit.admin import REVEAL_SESSION_KEY
from compliance.audit.checks import check_pi_admins_mask
from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from compliance.dsar import services as dsar_services
from compliance.pi.masking import mask_value
from compliance.pi.vocabulary import Category
from ledger import services as ledger
from ledger.models import KycRecord
from tests.ledger.conftest import sa_id
from tests.personas import make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

EMAIL = "zanele.sentinel@sentinel-mail.example"
FIRST, LAST = "Zanelesentinel", "Mokoenasentinel"
DOB = dt.date(1987, 6, 23)
ACCOUNT = "62098765432"
CORRECTION = "Correctedsentinel"
NOTE = "Called back on Notesentinel line"
PHONE = "+27829876543"  # the finding named e-mail, phone and names


@pytest.fixture
def seeded():
    customer = make_customer(email=EMAIL)
    customer.first_name, customer.last_name, customer.phone = FIRST, LAST, PHONE
    customer.save(update_fields=["first_name", "last_name", "phone"])
    id_number = sa_id(DOB)
    kyc = ledger.kyc_submit(actor=customer, id_number=id_number, date_of_birth=DOB, document_reference="DOCSENTINEL9")
    bank = ledger.bank_account_add(actor=customer, bank_name="FNB", branch_code="250655", account_number=ACCOUNT)
    dsar = dsar_services.dsar_file(
        subject=customer, filed_by=customer, type="correction", requested_changes={"first_name": CORRECTION}
    )
    dsar_services.dsar_add_note(actor=make_staff(roles.INFORMATION_OFFICER), dsar=dsar, note=NOTE)
    sentinels = [
        EMAIL,
        "zanele.sentinel",
        FIRST,
        LAST,
        id_number,
        ACCOUNT,
        CORRECTION,
        "DOCSENTINEL9",
        "1987",
        NOTE,
        PHONE,
        PHONE[1:],
        "0829876543",
    ]
    return {"customer": customer, "kyc": kyc, "bank": bank, "dsar": dsar, "sentinels": sentinels}


def _as(role: str):
    user = make_staff(role, superuser=role == roles.ADMIN)
    client = Client()
    otp_admin_login(client, user)
    return user, client


def _pages_for(user) -> list[str]:
    """Every change list the user may open and the change view of every row on it (first 20)."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        request = RequestFactory().get("/")
        request.user = user
        if not model_admin.has_view_or_change_permission(request):
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls.append(base)
        if getattr(model._meta, "managed", True):
            urls += [f"{base}{pk}/change/" for pk in model.objects.values_list("pk", flat=True)[:20]]
    return urls


@pytest.mark.parametrize("role", [roles.OPERATIONS, roles.INFORMATION_OFFICER, roles.AUDITOR, roles.ADMIN])
def test_no_role_sees_pi_in_clear_on_any_list_or_change_view(seeded, role):
    user, client = _as(role)
    opened = 0
    for url in _pages_for(user):
        response = client.get(url)
        if response.status_code != 200:
            continue
        opened += 1
        html = response.content.decode()
        leaked = [s for s in seeded["sentinels"] if s in html]
        assert not leaked, f"{role} sees {leaked} in clear at {url}"
    assert opened >= 3
    # Browsing masked pages is not a read of anyone's PI.
    assert not AuditEvent.objects.filter(action__in=[AuditAction.PI_ACCESS, AuditAction.CARD_DATA_ACCESS]).exists()


def test_the_masked_formats(seeded):
    client = _as(roles.OPERATIONS)[1]
    html = client.get(f"/admin/ledger/kycrecord/{seeded['kyc'].pk}/change/").content.decode()
    assert mask_value(seeded["kyc"].id_number, Category.IDENTITY) in html and "****-**-**" in html
    assert "Reveal personal information" in html
    html = client.get(f"/admin/accounts/user/{seeded['customer'].pk}/change/").content.decode()
    assert "z***@s***.example" in html and "Z***" in html and "M***" in html
    assert mask_value(PHONE, Category.CONTACT) == "***543" and "***543" in html
    assert mask_value("+27821234567", Category.CONTACT) == "***567"
    assert mask_value("62098765432", Category.FINANCIAL) == "***5432"
    assert mask_value("192.0.2.41", Category.IDENTITY) == "192.0.*.*"
    assert mask_value({"first_name": CORRECTION}, Category.IDENTITY) == {"first_name": "***"}


def test_operations_reveal_a_kyc_identity_with_a_reason_and_it_is_audited(seeded):
    user, client = _as(roles.OPERATIONS)
    kyc = seeded["kyc"]
    reveal = f"/admin/ledger/kycrecord/{kyc.pk}/reveal/"
    # No reason: the form answers again; nothing is revealed or recorded.
    assert client.post(reveal, {"reason": "  "}).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.PI_ACCESS).exists()
    response = client.post(reveal, {"reason": "checking ID document against submission"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.PI_ACCESS)
    assert (event.user_id, event.object_type, event.object_id) == (user.pk, "ledger.KycRecord", str(kyc.public_id))
    assert event.change_diff["purpose"] == "checking ID document against submission"
    assert {"id_number", "date_of_birth"} <= set(event.change_diff["fields"])
    assert not any(s in json.dumps(event.change_diff) for s in seeded["sentinels"])
    html = client.get(f"/admin/ledger/kycrecord/{kyc.pk}/change/").content.decode()
    assert kyc.id_number in html and "Revealed for you" in html
    # Seeing it again within the window is the same reveal: no new record.
    assert AuditEvent.objects.filter(action=AuditAction.PI_ACCESS).count() == 1
    # Another staff member still sees it masked.
    other = _as(roles.OPERATIONS)[1]
    assert kyc.id_number not in other.get(f"/admin/ledger/kycrecord/{kyc.pk}/change/").content.decode()
    # The window closes.
    session = client.session
    reveals = session[REVEAL_SESSION_KEY]
    for entry in reveals.values():
        entry["until"] = time.time() - 1
    session[REVEAL_SESSION_KEY] = reveals
    session.save()
    assert kyc.id_number not in client.get(f"/admin/ledger/kycrecord/{kyc.pk}/change/").content.decode()


@pytest.mark.parametrize(
    "role,url",
    [
        (roles.AUDITOR, "/admin/ledger/kycrecord/{kyc}/reveal/"),
        (roles.AUDITOR, "/admin/accounts/user/{user}/reveal/"),
        (roles.INFORMATION_OFFICER, "/admin/ledger/bankaccount/{bank}/reveal/"),
    ],
)
def test_a_reveal_without_the_permission_is_refused_once_and_changes_nothing(seeded, role, url):
    _, client = _as(role)
    url = url.format(kyc=seeded["kyc"].pk, user=seeded["customer"].pk, bank=seeded["bank"].pk)
    before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()
    response = client.post(url, {"reason": "curious"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == before + 1
    assert not AuditEvent.objects.filter(action=AuditAction.PI_ACCESS).exists()
    assert REVEAL_SESSION_KEY not in client.session
    # Not even offered: the change view has no reveal button for this role.
    change = url.replace("/reveal/", "/change/")
    assert "Reveal personal information" not in client.get(change).content.decode()


def test_an_inlines_pi_is_revealed_with_its_parent_record(seeded):
    _, client = _as(roles.INFORMATION_OFFICER)
    dsar = seeded["dsar"]
    url = f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/"
    assert NOTE not in client.get(url).content.decode()
    client.post(f"/admin/compliance/datasubjectrequest/{dsar.pk}/reveal/", {"reason": "checking the correction"})
    event = AuditEvent.objects.get(action=AuditAction.PI_ACCESS)
    assert (
        "compliance.dsarevent.note" in event.change_diff["fields"]
        and "requested_changes" in event.change_diff["fields"]
    )
    page = client.get(url).content.decode()
    assert NOTE in page and CORRECTION in page


def test_an_edit_after_the_reveal_window_is_refused_not_lost(seeded):
    _, client = _as(roles.ADMIN)
    customer = seeded["customer"]
    url = f"/admin/accounts/user/{customer.pk}/change/"
    client.post(f"/admin/accounts/user/{customer.pk}/reveal/", {"reason": "staff asked to fix a typo"})
    page = client.get(url).content.decode()
    assert FIRST in page and 'name="first_name"' in page  # revealed: editable
    session = client.session
    reveals = session[REVEAL_SESSION_KEY]
    for entry in reveals.values():
        entry["until"] = time.time() - 1
    session[REVEAL_SESSION_KEY] = reveals
    session.save()
    response = client.post(url, {"first_name": "Typed", "last_name": LAST, "is_active": "on"}, follow=True)
    assert "Nothing was saved" in response.content.decode()
    customer.refresh_from_db()
    assert customer.first_name == FIRST


def test_the_system_check_finds_an_admin_that_shows_pi_unmasked(seeded):
    class Plain(admin.ModelAdmin):
        list_display = ("public_id", "id_number")

    site = admin.AdminSite(name="unmasked")
    site.register(KycRecord, Plain)
    original = admin.site._registry
    admin.site._registry = {**original, KycRecord: site._registry[KycRecord]}
    try:
        errors = check_pi_admins_mask()
    finally:
        admin.site._registry = original
    assert [e.id for e in errors] == ["compliance.E130"] and "id_number" in errors[0].msg
    assert check_pi_admins_mask() == []


def test_revealing_card_data_is_a_card_data_access_and_needs_its_own_permission(seeded):
    from django.core.exceptions import PermissionDenied

    from compliance.audit.services import pi_reveal

    fields = {"pan": Category.CARD, "holder": Category.IDENTITY}
    ops = make_staff(roles.OPERATIONS)
    # Operations may reveal identity but not card data in the admin: only the holder is revealed.
    assert pi_reveal(actor=ops, subject_type="ledger.Card", subject_id="c1", fields=fields, reason="chargeback") == [
        "holder"
    ]
    assert AuditEvent.objects.filter(action=AuditAction.PI_ACCESS).count() == 1
    with pytest.raises(PermissionDenied):
        pi_reveal(
            actor=make_staff(roles.AUDITOR), subject_type="ledger.Card", subject_id="c1", fields=fields, reason="x"
        )
    superuser = make_staff(roles.ADMIN, superuser=True)
    assert pi_reveal(
        actor=superuser, subject_type="ledger.Card", subject_id="c1", fields=fields, reason=f"dispute from {EMAIL}"
    ) == [
        "holder",
        "pan",
    ]
    event = AuditEvent.objects.get(action=AuditAction.CARD_DATA_ACCESS)
    # PI typed into the reason is redacted before it is recorded.
    assert event.change_diff == {"fields": ["holder", "pan"], "purpose": "dispute from [REDACTED:EMAIL]"}
