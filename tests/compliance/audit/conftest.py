"""Fixtures for the audit-trail tests: personas, an isolated archive, and tampering helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from rest_framework.test import APIClient

from compliance.audit.services import ActorType, AuditAction, audit_record


@pytest.fixture(autouse=True)
def _isolated_archive(settings, tmp_path) -> None:
    # Every test gets its own archive directory: the exported head is per test, never shared.
    settings.AUDIT_ARCHIVE_BACKEND = "local"
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "audit-archive")


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(*, staff: bool = False, superuser: bool = False, groups: tuple[str, ...] = (), **extra):
        n = next(counter)
        user = get_user_model().objects.create_user(
            email=f"persona{n}@example.test",
            password="a-long-test-password-123",  # pragma: allowlist secret
            is_staff=staff or superuser,
            is_superuser=superuser,
            **extra,
        )
        for name in groups:
            group, created = Group.objects.get_or_create(name=name)
            if name == "auditor" and created:
                group.permissions.add(Permission.objects.get(codename="view_auditevent"))
            user.groups.add(group)
        return user

    return make


@pytest.fixture
def auditor(make_user):
    return make_user(staff=True, groups=("auditor",))


@pytest.fixture
def customer(make_user):
    return make_user(groups=("customer",))


@pytest.fixture
def operations(make_user):
    return make_user(staff=True, groups=("operations",))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def write_events(count: int, *, action: str = AuditAction.TRANSFER, actor=None) -> list:
    return [
        audit_record(
            action=action,
            actor=actor,
            actor_type=None if actor else ActorType.SYSTEM,
            object_type="ledger.Transfer",
            object_id=f"t-{index}",
            change_diff={"after": {"amount_minor": 100 + index, "currency": "ZAR"}},
        )
        for index in range(count)
    ]


@pytest.fixture
def behind_the_triggers() -> Iterator:
    """Run SQL as a superuser with the audit table's triggers disabled (the attack we detect)."""

    def run(sql: str, params: list | None = None) -> None:
        with connection.cursor() as cursor:
            # Django's FKs are deferred: settle them, or ALTER TABLE refuses to run.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER ALL")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER ALL")

    yield run


def grow_and_checkpoint(*sizes: int) -> list:
    """Write and seal records until the tree has each size in turn, publishing a checkpoint at each."""
    from compliance.audit.chain import seal_pending
    from compliance.audit.transparency import publish_checkpoint, tree_size

    checkpoints = []
    for size in sizes:
        write_events(size - tree_size())
        seal_pending()
        checkpoints.append(publish_checkpoint(force=True))
    return checkpoints


def trusted_keys_file(path, *extra) -> str:
    """The keys an auditor trusts: the log's verifier keys (from the key provider) and any witness keys."""
    from compliance.audit.transparency import log_verifier_keys

    lines = [key.encode() for key in log_verifier_keys()] + [key.encode() for key in extra]
    path.write_text("\n".join(lines) + "\n")
    return str(path)
