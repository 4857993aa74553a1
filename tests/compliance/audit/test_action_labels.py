"""Every audit action has a label in words: a subject's "who accessed your data" never shows a code."""

from __future__ import annotations

from compliance.audit.labels import ACTION_LABELS, action_label
from compliance.audit.services import AuditAction


def test_every_audit_action_has_a_label_in_words():
    assert set(ACTION_LABELS) == set(AuditAction.values)
    for code, label in ACTION_LABELS.items():
        assert label and "_" not in label, code
        if "_" in code:  # a one-word code ("DEPOSIT") may read as itself; "Pi Access" may not
            assert label != code.replace("_", " ").title(), code
    assert len(set(ACTION_LABELS.values())) == len(ACTION_LABELS), "two actions read the same"


def test_an_unknown_code_reads_as_words_not_a_title():
    assert action_label("SOME_OLD_CODE") == "Some old code"
    assert action_label("PI_ACCESS") == "Viewed your personal information"
