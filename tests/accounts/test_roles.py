"""Roles: five groups with least privilege, kept in step by an idempotent sync."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from accounts import roles, services
from tests.accounts.helpers import audit_actions, audit_mark_now
from tests.personas import PASSWORD


def perms_of(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
    }


@pytest.mark.django_db
def test_migrate_created_the_five_roles_with_their_declared_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)
    for role, declared in roles.ROLE_PERMISSIONS.items():
        existing = {
            dotted
            for dotted in declared
            if Permission.objects.filter(
                content_type__app_label=dotted.split(".")[0], codename=dotted.split(".")[1]
            ).exists()
        }
        assert perms_of(role) == existing, role


@pytest.mark.django_db
def test_customers_hold_no_model_permissions_and_auditors_only_view():
    assert perms_of(roles.CUSTOMER) == set()
    auditor = perms_of(roles.AUDITOR)
    assert auditor, "the auditor must be able to read something"
    assert all(perm.split(".")[1].startswith("view_") for perm in auditor)
    # Declared too, not only what exists today: later apps cannot slip in a write.
    assert all(perm.split(".")[1].startswith("view_") for perm in roles.ROLE_PERMISSIONS[roles.AUDITOR])


@pytest.mark.django_db
def test_no_role_but_admin_may_manage_users():
    for role in roles.ALL_ROLES:
        can_write_users = {"accounts.add_user", "accounts.change_user"} & perms_of(role)
        assert bool(can_write_users) == (role == roles.ADMIN), role


@pytest.mark.django_db
def test_sync_is_idempotent_and_removes_undeclared_permissions(caplog):
    extra = Permission.objects.get(content_type__app_label="accounts", codename="delete_user")
    Group.objects.get(name=roles.OPERATIONS).permissions.add(extra)
    audit_mark_now()
    call_command("sync_roles")
    assert "accounts.delete_user" not in perms_of(roles.OPERATIONS)
    assert audit_actions() == ["ROLE_CHANGED"]
    audit_mark_now()
    first = services.roles_sync()
    assert services.roles_sync() == first
    assert audit_actions() == []


@pytest.mark.django_db
def test_sync_refuses_a_permission_that_does_not_exist_and_changes_nothing(monkeypatch):
    before = perms_of(roles.AUDITOR)
    monkeypatch.setitem(
        roles.ROLE_PERMISSIONS, roles.AUDITOR, ["compliance.view_modelthatdoesnotexist", "accounts.view_user"]
    )
    with pytest.raises(services.RoleConfigurationError, match=r"compliance\.view_modelthatdoesnotexist"):
        services.roles_sync()
    assert perms_of(roles.AUDITOR) == before
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="view_modelthatdoesnotexist"):
        call_command("sync_roles")


def test_a_role_naming_a_missing_permission_fails_manage_py_check(monkeypatch):
    from django.core.management.base import SystemCheckError

    call_command("check")  # the declared roles are sound
    declared = roles.ROLE_PERMISSIONS[roles.OPERATIONS]
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.OPERATIONS, [*declared, "ledger.view_account"])
    with pytest.raises(SystemCheckError, match=r"accounts\.E001"):
        call_command("check")
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.OPERATIONS, ["ledger_view_kycrecord"])
    with pytest.raises(SystemCheckError, match=r"accounts\.E002"):
        call_command("check")


@pytest.mark.django_db
def test_operations_and_auditor_hold_the_real_ledger_permissions():
    operations = perms_of(roles.OPERATIONS)
    assert {"ledger.view_kycrecord", "ledger.view_ledgeraccount", "ledger.decide_kyc", "ledger.reverse_entry",
            "ledger.verify_bankaccount"} <= operations  # fmt: skip
    assert {"ledger.view_kycrecord", "ledger.view_ledgeraccount"} <= perms_of(roles.AUDITOR)
    # The security-compromise register does not exist yet: no role names it.
    assert not [p for perms in roles.ROLE_PERMISSIONS.values() for p in perms if "securitycompromise" in p]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [roles.OPERATIONS, roles.AUDITOR])
@pytest.mark.parametrize("path", ["/admin/ledger/kycrecord/", "/admin/ledger/ledgeraccount/"])
def test_operations_and_auditor_open_the_kyc_queue_and_the_accounts(client, role, path):
    from tests.personas import make_staff, otp_admin_login

    user = make_staff(role)
    otp_admin_login(client, user)
    assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_staff_creation_refuses_customer_role_and_non_admin_actors(operations):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.staff_user_create(
            actor=None,
            email="x@staff.example.test",
            password=PASSWORD,
            role="customer",
        )
    with pytest.raises(PermissionDenied):
        services.staff_user_create(actor=operations, email="y@staff.example.test", password=PASSWORD, role=roles.ADMIN)
    from accounts.models import User

    assert not User.objects.filter_by_email("x@staff.example.test").exists()
    assert not User.objects.filter_by_email("y@staff.example.test").exists()
