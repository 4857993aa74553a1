"""The supply-chain script: the runtime set it describes, and an audit that never fakes a pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "supply_chain.py"
_spec = importlib.util.spec_from_file_location("supply_chain", _SCRIPT)
supply_chain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(supply_chain)


def test_the_runtime_set_holds_the_pins_and_what_they_pull_in_but_no_dev_tools():
    closure = supply_chain.runtime_closure()
    assert closure["django"] == "5.2.19"
    assert "asgiref" in closure and "sqlparse" in closure  # Django's own requirements
    assert "psycopg-binary" in closure  # an extra of a pinned requirement (psycopg[binary])
    assert not {"pytest", "ruff", "hypothesis", "schemathesis", "pip-audit"} & set(closure)


@pytest.mark.parametrize(
    ("dependencies", "required", "code", "word"),
    [
        ([{"name": "django", "version": "5.2", "vulns": []}], False, 0, "no known vulnerabilities"),
        ([{"name": "django", "version": "5.2", "vulns": [{"id": "PYSEC-1"}]}], False, 1, "VULNERABLE"),
        # Nothing could be looked up: pip-audit itself would say "No known vulnerabilities found".
        ([{"name": "django", "skip_reason": "not found"}], False, 0, "INCOMPLETE"),
        ([{"name": "django", "skip_reason": "not found"}], True, 1, "INCOMPLETE"),
    ],
)
def test_the_audit_verdict(dependencies, required, code, word):
    result, lines = supply_chain.verdict(dependencies, required=required)
    assert result == code and word in "\n".join(lines)
