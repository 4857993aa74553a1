"""The per-process authentication snapshot (accounts/auth_snapshot.py) never outlives a change.

Each test first makes a request that leaves a snapshot behind (proved by a second request that
reads no user row), then changes the account through a real path, and the very next request with
the same token is refused (or, for a role change, loses the permission).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import auth_snapshot, roles, services
from accounts.models import User
from tests.accounts.helpers import assert_error
from tests.personas import make_api_client

# A customer endpoint that needs nothing of the user row beyond the snapshot (/me/ reads the
# profile, so it loads the deferred columns).
ME = "/api/v1/accounts/"
OPS_QUEUE = "/api/v1/ops/pending/"

pytestmark = pytest.mark.django_db


def _user_row_reads(client, path: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    return status, sum('FROM "accounts_user"' in query["sql"] for query in queries.captured_queries)


def _warm(client, path: str = ME) -> None:
    """A first request snapshots the user; the second reads no user row at all."""
    assert client.get(path).status_code == 200
    assert _user_row_reads(client, path) == (200, 0)


def test_a_deactivated_users_next_request_is_refused(customer):
    client = make_api_client(customer)
    _warm(client)
    services.user_deactivate(actor=None, user=customer)
    assert_error(client.get(ME), 401, "token_not_valid")


def test_an_update_through_the_orm_invalidates_the_snapshot(customer):
    client = make_api_client(customer)
    _warm(client)
    User.objects.filter(pk=customer.pk).update(is_active=False)
    assert cache.get(auth_snapshot.generation_key(customer.public_id)) is None
    assert_error(client.get(ME), 401, "token_not_valid")


def test_a_save_invalidates_the_snapshot(customer):
    """The path of DSAR erasure and the admin's user form: ``save()`` on the row."""
    client = make_api_client(customer)
    _warm(client)
    customer.is_active = False
    customer.save()
    assert_error(client.get(ME), 401, "token_not_valid")


def test_a_bumped_epoch_refuses_the_snapshotted_token(customer):
    client = make_api_client(customer)
    _warm(client)
    User.objects.filter(pk=customer.pk).update(auth_epoch=customer.auth_epoch + 1)
    assert_error(client.get(ME), 401, "token_revoked")


@pytest.mark.django_db(transaction=True)  # the logout denies the access token after its commit
def test_a_revoked_token_is_refused_although_its_user_is_snapshotted(customer):
    client = make_api_client(customer)
    _warm(client)
    assert client.post("/api/v1/auth/logout/", {"refresh": client.tokens["refresh"]}).status_code == 204
    assert_error(client.get(ME), 401, "token_revoked")


def test_a_password_reset_by_an_admin_revokes_the_snapshotted_token(customer, admin_user):
    client = make_api_client(customer)
    _warm(client)
    services.password_set_by_admin_record(actor=admin_user, user=customer)
    assert_error(client.get(ME), 401, "token_revoked")


def test_a_role_change_takes_effect_on_the_next_request(operations):
    """Roles are groups: permissions are read per request, never from the snapshot."""
    client = make_api_client(operations)
    _warm(client, OPS_QUEUE)
    operations.groups.remove(Group.objects.get(name=roles.OPERATIONS))
    assert_error(client.get(OPS_QUEUE), 403, "permission_denied")


def test_another_process_sees_the_change_through_the_shared_generation(customer):
    """The snapshot is per process; what makes every process drop it is the Redis generation,
    which the change deletes. A process whose snapshot carries an old generation reloads."""
    client = make_api_client(customer)
    _warm(client)
    before = cache.get(auth_snapshot.generation_key(customer.public_id))
    assert before is not None
    User.objects.filter(pk=customer.pk).update(last_login=None)
    assert cache.get(auth_snapshot.generation_key(customer.public_id)) is None
    # The next request claims a new generation and reads the row again.
    assert _user_row_reads(client, ME) == (200, 1)
    assert cache.get(auth_snapshot.generation_key(customer.public_id)) not in (None, before)


def test_no_generation_in_redis_means_no_snapshot_is_used(customer):
    client = make_api_client(customer)
    _warm(client)
    cache.delete(auth_snapshot.generation_key(customer.public_id))
    assert _user_row_reads(client, ME) == (200, 1)


def test_the_snapshot_holds_no_personal_information(customer):
    client = make_api_client(customer)
    _warm(client)
    names = set(auth_snapshot.snapshot_fields(User))
    assert names == {"id", "public_id", "is_active", "is_staff", "is_superuser", "auth_epoch"}
    _generation, values, _ = auth_snapshot._snapshots[str(customer.public_id)]
    assert str(customer.email) not in map(str, values)
