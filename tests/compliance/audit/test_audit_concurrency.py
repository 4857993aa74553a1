"""Concurrent writers against real PostgreSQL: each its own connection and transactions."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import close_old_connections, connection, connections, transaction

from compliance.audit.chain import SEAL_LOCK_KEY, seal_pending, verify_chain
from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8
EVENTS_PER_WRITER = 40


def _writer(index: int, barrier: threading.Barrier, errors: list) -> None:
    try:
        barrier.wait(timeout=30)
        for n in range(EVENTS_PER_WRITER):
            # One business transaction per event, as a service would do it.
            with transaction.atomic():
                audit_record(
                    action=AuditAction.TRANSFER,
                    actor_type=ActorType.SYSTEM,
                    object_type="ledger.Transfer",
                    object_id=f"w{index}-{n}",
                    change_diff={"after": {"amount_minor": n, "currency": "ZAR"}},
                )
    except Exception as exc:
        errors.append(exc)
    finally:
        connections.close_all()


def test_eight_concurrent_writers_and_a_running_sealer_give_a_gap_free_verifiable_chain():
    barrier = threading.Barrier(WRITERS + 1)
    errors: list = []
    stop = threading.Event()
    sealed_while_writing: list[int] = []

    def sealer() -> None:
        try:
            barrier.wait(timeout=30)
            while not stop.is_set():
                sealed_while_writing.append(seal_pending(batch_size=50).sealed)
                time.sleep(0.01)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=_writer, args=(i, barrier, errors)) for i in range(WRITERS)]
    sealer_thread = threading.Thread(target=sealer)
    for thread in [*threads, sealer_thread]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    sealer_thread.join(timeout=60)
    close_old_connections()

    assert errors == []
    assert sum(sealed_while_writing) > 0  # the sealer really ran alongside the writers
    seal_pending()
    total = WRITERS * EVENTS_PER_WRITER
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 0
    assert len(set(AuditEvent.objects.values_list("object_id", flat=True))) == total
    result = verify_chain()
    assert (result.ok, result.checked, result.head_seq) == (True, total, total)


def test_writers_do_not_wait_for_a_sealer_that_holds_the_lock():
    """A stuck sealer (lock held in another session) must not block business transactions."""
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        done = threading.Event()
        errors: list = []

        def write() -> None:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    # Fail fast instead of hanging if a write ever had to wait on a lock.
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                    for n in range(5):
                        audit_record(action=AuditAction.DEPOSIT, actor_type=ActorType.SYSTEM, object_id=str(n))
                done.set()
            except Exception as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=30)
        assert errors == []
        assert done.is_set()
        assert AuditEvent.objects.filter(action=AuditAction.DEPOSIT, seq__isnull=True).count() == 5
    finally:
        with holder.cursor() as cursor:
            cursor.execute("ROLLBACK")
        holder.close()
    assert seal_pending().sealed == 5
