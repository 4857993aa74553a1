"""The admin demands OTP from every staff user: no page opens on a password-only session,
staff without an authenticator are sent to enrol, and sessions end after 15 idle minutes."""

from __future__ import annotations

import contextlib
import re
import time

import pytest
import time_machine
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts import roles
from accounts.models import User
from fintech.admin_site import PlatformAdminSite
from tests.accounts.helpers import audit_actions, audit_mark_now
from tests.personas import PASSWORD, enrol_totp, next_code

STAFF_PASSWORD = "staff-set-pass-2026"  # pragma: allowlist secret
ADMIN_SET_PASSWORD_FORM = {
    "password1": STAFF_PASSWORD,
    "password2": STAFF_PASSWORD,
    "usable_password": "true",  # pragma: allowlist secret
}


def admin_login(client: Client, user: User, code: str) -> object:
    return client.post("/admin/login/?next=/admin/", {"username": user.email, "password": PASSWORD, "otp_token": code})


def every_admin_url(sample_user: User) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    app_labels = set()
    for model in admin.site._registry:
        opts = model._meta
        app_labels.add(opts.app_label)
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        # A read-only screen (e.g. the PI inventory) has no add view.
        with contextlib.suppress(NoReverseMatch):
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    user_pk = sample_user.pk
    urls += [
        reverse("admin:accounts_user_change", args=[user_pk]),
        reverse("admin:accounts_user_delete", args=[user_pk]),
        reverse("admin:accounts_user_history", args=[user_pk]),
        reverse("admin:auth_user_password_change", args=[user_pk]),
    ]
    urls += [reverse("admin:app_list", args=[label]) for label in sorted(app_labels)]
    return urls


def test_the_default_admin_site_is_the_otp_site():
    assert isinstance(admin.site, PlatformAdminSite)


@pytest.mark.django_db
@pytest.mark.parametrize("enrolled", [True, False])
def test_a_password_only_staff_session_opens_no_admin_page(admin_user, enrolled):
    if enrolled:
        enrol_totp(admin_user)
    client = Client()
    # force_login = a session that passed the password but no OTP check (even a superuser).
    client.force_login(admin_user)
    urls = every_admin_url(admin_user)
    assert len(urls) > 15
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, f"{url} answered {response.status_code}"
        assert response["Location"].startswith("/admin/login/"), url
    login_page = client.get("/admin/login/")
    if enrolled:
        assert login_page.status_code == 200
    else:
        assert login_page.status_code == 302
        assert login_page["Location"] == "/admin/mfa/enrol/"


@pytest.mark.django_db
def test_staff_log_in_with_password_and_code(operations, caplog):
    device = enrol_totp(operations)
    audit_mark_now()
    client = Client()
    response = admin_login(client, operations, next_code(device))
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert audit_actions() == ["MFA_VERIFIED", "LOGIN"]


@pytest.mark.django_db
def test_staff_with_a_device_cannot_log_in_without_the_code(operations):
    enrol_totp(operations)
    client = Client()
    response = client.post("/admin/login/", {"username": operations.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "one-time code" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_a_wrong_or_replayed_code_does_not_log_in(operations):
    device = enrol_totp(operations)
    code = next_code(device)
    assert admin_login(Client(), operations, code).status_code == 302
    replay = Client()
    with time_machine.travel(time.time() + 3):
        response = admin_login(replay, operations, code)
    assert response.status_code == 200
    assert "_auth_user_id" not in replay.session


@pytest.mark.django_db
def test_customers_cannot_use_the_admin(customer):
    enrol_totp(customer)
    client = Client()
    response = client.post("/admin/login/", {"username": customer.email, "password": PASSWORD, "otp_token": "123456"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_staff_without_a_device_are_sent_to_enrol_and_can_then_work(information_officer, caplog):
    client = Client()
    response = client.post("/admin/login/", {"username": information_officer.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/mfa/enrol/"
    assert client.get("/admin/").status_code == 302
    page = client.get("/admin/mfa/enrol/")
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", html).group(1)
    assert 'src="data:image/svg+xml;base64,' in html
    # Reloading the page keeps the same pending key (the one already scanned).
    assert secret in client.get("/admin/mfa/enrol/").content.decode()
    device = information_officer.totpdevice_set.get()
    assert device.key == secret and device.confirmed is False
    audit_mark_now()
    done = client.post("/admin/mfa/enrol/", {"otp_token": device.current_code()})
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>[A-Z0-9]{5}-[A-Z0-9]{5}</code></li>", done.content.decode())) == 10
    assert client.get("/admin/").status_code == 200
    assert audit_actions() == ["MFA_ENROLLED"]
    # Enrolled: the enrolment page is closed now.
    assert client.get("/admin/mfa/enrol/")["Location"] == "/admin/"


@pytest.mark.django_db
def test_the_enrolment_page_is_closed_to_anonymous_users_and_customers(customer):
    assert Client().get("/admin/mfa/enrol/")["Location"].startswith("/admin/login/")
    client = Client()
    client.force_login(customer)
    assert client.get("/admin/mfa/enrol/")["Location"].startswith("/admin/login/")
    assert not customer.totpdevice_set.exists()


@pytest.mark.django_db
def test_admin_sessions_expire_after_fifteen_idle_minutes(auditor):
    device = enrol_totp(auditor)
    client = Client()
    start = time.time()
    with time_machine.travel(start, tick=False):
        assert admin_login(client, auditor, next_code(device)).status_code == 302
        assert client.get("/admin/").status_code == 200
    # Activity slides the window.
    with time_machine.travel(start + 14 * 60, tick=False):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(start + 28 * 60, tick=False):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(start + 28 * 60 + 15 * 60 + 1, tick=False):
        response = client.get("/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
        assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_admins_create_staff_through_the_add_form(admin_user):
    device = enrol_totp(admin_user)
    client = Client()
    admin_login(client, admin_user, next_code(device))
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.officer@staff.example.test",
            "first_name": "New",
            "last_name": "Officer",
            "role": roles.INFORMATION_OFFICER,
            "password1": STAFF_PASSWORD,
            "password2": STAFF_PASSWORD,
            "usable_password": "true",  # pragma: allowlist secret
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = User.objects.get_by_email("new.officer@staff.example.test")
    assert created.is_staff and not created.is_superuser
    assert list(created.groups.values_list("name", flat=True)) == [roles.INFORMATION_OFFICER]


@pytest.mark.django_db
def test_user_changelist_query_count(admin_user, customer, other_customer, django_assert_max_num_queries):
    device = enrol_totp(admin_user)
    client = Client()
    admin_login(client, admin_user, next_code(device))
    with django_assert_max_num_queries(12):
        assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.django_db
def test_admin_permission_denials_are_audited(operations, caplog):
    device = enrol_totp(operations)
    client = Client()
    admin_login(client, operations, next_code(device))
    audit_mark_now()
    assert client.get("/admin/auth/group/").status_code == 403
    assert audit_actions() == ["PERMISSION_DENIED"]


@pytest.mark.django_db
def test_a_password_set_in_the_admin_revokes_the_users_tokens(admin_user, customer):
    from tests.personas import make_api_client

    api = make_api_client(customer)
    device = enrol_totp(admin_user)
    client = Client()
    admin_login(client, admin_user, next_code(device))
    response = client.post(
        f"/admin/accounts/user/{customer.pk}/password/",
        ADMIN_SET_PASSWORD_FORM,
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password(STAFF_PASSWORD)
    assert api.get("/api/v1/me/").status_code == 401
