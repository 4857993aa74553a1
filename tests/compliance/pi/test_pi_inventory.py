"""manage.py pi_inventory and the committed docs/POPIA_COMPLIANCE.md."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from compliance.management.commands.pi_inventory import JSON_PATH, MARKDOWN_PATH, generated_files
from compliance.pi.registry import registry
from compliance.pi.vocabulary import PURPOSES, RETENTION_POLICIES
from tests.conftest import ROOT


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("pi_inventory", *args, stdout=out)
    return out.getvalue()


def test_markdown_lists_every_annotated_field():
    text = run("--include-test-apps")
    for entry in registry:
        assert f"### `{entry.model._meta.label}`" in text
        for name in entry.annotations():
            assert f"| `{name}` |" in text, name
    assert (
        "| `id_number` | identity | kyc, account_management | legal_obligation | fica_customer_due_diligence "
        "| yes | retain_under_legal_duty | yes |" in text
    )
    assert (
        "| `phone_index` | contact | account_management | contract | account_active_plus_1y | no | null | blind index |"
        in text
    )
    assert "| `nickname` | identity | account_management | consent | account_active_plus_1y | yes | null | no |" in text
    for code in PURPOSES:
        assert f"| `{code}` |" in text
    for code in RETENTION_POLICIES:
        assert f"| `{code}` |" in text


def test_json_lists_every_annotated_field():
    data = json.loads(run("--format", "json", "--include-test-apps"))
    by_model = {m["model"]: m for m in data["models"]}
    subject = by_model["pi_testapp.Subject"]
    assert [row["field"] for row in subject["fields"]] == [
        "email",
        "email_index",
        "id_number",
        "id_number_index",
        "phone",
        "phone_index",
        "date_of_birth",
        "address",
        "bank_account",
        "nickname",
    ]
    row = next(r for r in subject["fields"] if r["field"] == "bank_account")
    assert row == {
        "field": "bank_account",
        "category": "financial",
        "purposes": ["payments"],
        "lawful_basis": "contract",
        "retention": "fica_transactions",
        "export": True,
        "erasure": "null",
        "sensitive": True,
        "encrypted": True,
        "blind_index": False,
        "derived_from": "",
        "correctable": "",
        "description": "",
    }
    assert subject["table"] == "pi_testapp_subject" and subject["not_pi"] == [
        "created_at",
        "public_id",
        "status",
        "updated_at",
    ]
    assert data["retention_policies"]["fica_transactions"]["days"] == 5 * 365


def test_the_product_inventory_leaves_test_apps_out():
    assert "pi_testapp" not in run()
    assert "pi_testapp" not in run("--format", "json")


def test_committed_docs_match_the_generated_inventory():
    for path, text in generated_files().items():
        committed = (ROOT / path).read_text(encoding="utf-8")
        assert committed == text, f"{path} is stale: run `manage.py pi_inventory --write` and commit it."


def test_write_and_check(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    with pytest.raises(CommandError, match=r"Stale: docs/POPIA_COMPLIANCE\.md, docs/pi_inventory\.json"):
        run("--check")
    assert "Wrote docs/POPIA_COMPLIANCE.md" in run("--write")
    assert (tmp_path / MARKDOWN_PATH).read_text().startswith("# POPIA compliance")
    assert json.loads((tmp_path / JSON_PATH).read_text())["purposes"]
    assert "up to date" in run("--check")
    (tmp_path / MARKDOWN_PATH).write_text("edited by hand\n")
    with pytest.raises(CommandError, match=r"Stale: docs/POPIA_COMPLIANCE\.md"):
        run("--check")
