"""The audit trail: one append-only table for business and security events (SPEC C4, PMLA).

Invariants (enforced in PostgreSQL, not just in Python):
- Rows are inserted by ``compliance.audit.audit_record`` and never deleted or truncated: row-level
  DELETE and statement-level TRUNCATE triggers raise.
- A row is updated exactly once, by the sealer, to fill ``seq``/``prev_hash``/``hash``/
  ``sealed_at`` from NULL; the UPDATE trigger rejects every other change (any other column, or a
  row that is already sealed).
- The application's database role holds INSERT and SELECT on the table and no UPDATE, DELETE or
  TRUNCATE (``compliance/db_roles.py``); it seals through a SECURITY DEFINER function.
- Triggers can be bypassed by whoever owns the table (``ALTER TABLE ... DISABLE TRIGGER``,
  ``SET pgtrigger.ignore``): the hash chain (``compliance/audit/chain.py``) makes such tampering
  detectable, and the exported head makes a truncated tail detectable.

``action`` deliberately has no ``choices``: the registry (``AuditAction``) grows with every app
and a ``choices`` change would be a migration in every branch; ``audit_record`` validates it.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

# The columns a seal may fill. Everything else is frozen from INSERT on.
SEAL_COLUMNS = ("seq", "prev_hash", "hash", "sealed_at")
FROZEN_COLUMNS = (
    "id",
    "timestamp",
    "user_id",
    "actor_type",
    "action",
    "source_ip",
    "change_diff",
    "request_id",
    "object_type",
    "object_id",
)


def _row(prefix: str, columns: tuple[str, ...]) -> str:
    return "ROW(" + ", ".join(f'{prefix}."{column}"' for column in columns) + ")"


# The one UPDATE the table accepts: an unsealed row gets all four seal columns, nothing else moves.
_IS_SEAL = (
    " AND ".join(f'OLD."{column}" IS NULL' for column in SEAL_COLUMNS)
    + " AND "
    + " AND ".join(f'NEW."{column}" IS NOT NULL' for column in SEAL_COLUMNS)
    + f" AND {_row('OLD', FROZEN_COLUMNS)} IS NOT DISTINCT FROM {_row('NEW', FROZEN_COLUMNS)}"
)

# TRUNCATE is refused unless a superuser session explicitly opts in with
# ``SET fintech.audit_truncate = 'allow'``. Only the test harness does that: Django empties every
# table with one TRUNCATE between transactional tests. A superuser can disable triggers anyway,
# so this opens nothing; the application role has no TRUNCATE privilege at all.
_REFUSE_TRUNCATE = """
IF current_setting('is_superuser') = 'on'
   AND coalesce(current_setting('fintech.audit_truncate', true), '') = 'allow' THEN
    RETURN NULL;
END IF;
RAISE EXCEPTION 'audit trail: TRUNCATE of % is not allowed', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
"""


@pi_model(
    subject="user",
    description=(
        "The audit trail of what each user did (PMLA/FICA, POPIA s19). Append-only and hash-chained: a "
        "deletion request keeps it for the audit_trail period. Diffs are masked when written, so the rows "
        "name people only by public ids; the client address is the personal information here."
    ),
    fields={
        "source_ip": PI(
            Category.IDENTITY,
            purposes=["security", "legal_compliance"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="audit_trail",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            description="Client address of the request (trusted-proxy rule).",
        ),
    },
    not_pi=[
        "id", "timestamp", "user", "actor_type", "action",
        "change_diff",  # PI masked at write time (compliance.audit.scrub_change_diff)
        "request_id", "object_type", "object_id", "seq", "prev_hash", "hash", "sealed_at",
    ],
)  # fmt: skip
class AuditEvent(models.Model):
    """One PMLA audit record. Written only through ``compliance.audit.audit_record``."""

    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(default=timezone.now, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Users are anonymised, never deleted, while their audit records are retained.
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed by audit_user_ts_idx (user, timestamp), which also serves every lookup by user.
        db_index=False,
        help_text="The acting user; empty for the system or an anonymous caller (see actor type).",
    )
    actor_type = models.CharField(max_length=16)
    action = models.CharField(max_length=64)
    source_ip = models.GenericIPAddressField("source IP address", null=True, blank=True)
    change_diff = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    # Unique among sealed rows (a partial index: an unsealed row adds no index tuple for it).
    seq = models.BigIntegerField(null=True, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    sealed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "audit event"
        verbose_name_plural = "audit events"
        # Nobody may be granted add/change/delete: the only writer is audit_record.
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["seq"], condition=models.Q(seq__isnull=False), name="audit_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["timestamp"], name="audit_timestamp_idx"),
            models.Index(fields=["action", "timestamp"], name="audit_action_ts_idx"),
            # Object id first: the admin's search and the DSAR "who accessed" report look up ids
            # (with or without their type); nothing looks up a type alone (a handful of values).
            models.Index(fields=["object_id", "object_type"], name="audit_object_id_idx"),
            # A staff member's "Recent actions" (the landing page) and any per-user reading.
            models.Index(fields=["user", "timestamp"], name="audit_user_ts_idx"),
            # The admin's search by request id; records written outside a request have none.
            models.Index(fields=["request_id"], name="audit_request_id_idx", condition=~models.Q(request_id="")),
            # The sealer's work queue: tiny, because rows leave it within seconds.
            models.Index(fields=["timestamp", "id"], name="audit_unsealed_idx", condition=models.Q(seq__isnull=True)),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(
                name="audit_seal_only_update",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(f"NOT ({_IS_SEAL})"),
            ),
            pgtrigger.Trigger(
                name="audit_no_truncate",
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                operation=pgtrigger.Truncate,
                func=_REFUSE_TRUNCATE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.seq if self.seq is not None else 'unsealed'}"

    @property
    def is_sealed(self) -> bool:
        return self.seq is not None


# --- The Merkle tree and its signed checkpoints (docs/adr/0006) ---------------------------------
# Append-only like the trail (no UPDATE, no DELETE: pgtrigger), except the one-row tree state the
# sealer advances. The hashes are public facts about the log (no PI); a superuser could rewrite
# these tables too, which is why checkpoints are signed, archived under Object Lock and cosigned.
class AuditMerkleNode(models.Model):
    """A perfect subtree's hash, keyed by its in-order number (``merkle.node_id``); leaves included."""

    id = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = "audit Merkle node"
        default_permissions = ()
        triggers = [
            pgtrigger.Protect(name="audit_node_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"node {self.id}"


class AuditMerkleState(models.Model):
    """The one row: the tree's size (= the last sealed seq) and its compact range (right edge)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    # One 32-byte hash per set bit of ``size``, largest subtree first, concatenated.
    compact_range = models.BinaryField(default=b"")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "audit Merkle tree state"
        default_permissions = ()
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_merkle_state_singleton")]

    def __str__(self) -> str:
        return f"tree of {self.size} records"


class AuditCheckpoint(models.Model):
    """A signed checkpoint (C2SP tlog-checkpoint note) of the tree, and the proof linking it to the last."""

    id = models.BigAutoField(primary_key=True)
    size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    origin = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8, help_text="The signing key's C2SP key id (hex).")
    note = models.TextField(help_text="The signed note exactly as published.")
    previous_size = models.BigIntegerField(null=True, blank=True)
    consistency_proof = models.JSONField(default=list, blank=True, help_text="Hex hashes, previous size to size.")
    archive_key = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "audit checkpoint"
        default_permissions = ("view",)
        indexes = [models.Index(fields=["size", "id"], name="audit_checkpoint_size_idx")]
        triggers = [
            pgtrigger.Protect(name="audit_checkpoint_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.size} @ {self.signed_at:%Y-%m-%d %H:%M:%S}"


class AuditCheckpointCosignature(models.Model):
    """A witness's cosignature line on a checkpoint (C2SP tlog-cosignature/v1)."""

    id = models.BigAutoField(primary_key=True)
    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8)
    signature_line = models.TextField()
    cosigned_at = models.DateTimeField()
    archive_key = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "audit checkpoint cosignature"
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "witness", "key_id"], name="audit_cosignature_once"),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_cosignature_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.witness} on checkpoint {self.checkpoint_id}"
