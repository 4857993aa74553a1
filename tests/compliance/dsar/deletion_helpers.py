"""A deletion request driven through the officers' API, as the erasure tests need it."""

from __future__ import annotations

from tests.personas import make_api_client


def act(officer, dsar_id: str, slug: str, body: dict | None = None) -> None:
    """One officer action on a request (``/api/v1/officer/dsar/{id}/{slug}/``), which must succeed."""
    response = make_api_client(officer).post(f"/api/v1/officer/dsar/{dsar_id}/{slug}/", body or {}, format="json")
    assert response.status_code == 200, (slug, response.content)


def deletion_awaiting_approval(subject, first) -> str:
    """Filed over the API, verified and sent for approval by the first officer: four eyes pending."""
    dsar_id = make_api_client(subject).post("/api/v1/dsar/", {"type": "deletion"}, format="json").json()["id"]
    act(first, dsar_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(first, dsar_id, "assign")
    act(first, dsar_id, "request-approval")
    return dsar_id


def assert_statement_in_words(statement: str) -> None:
    """The subject reads tables and fields by name: no model label (``ledger.bankaccount``) and no
    column key (``first_name``, ``notify_contact``) of any registered table appears in a statement."""
    from compliance.pi.registry import registry

    for entry in registry:
        assert entry.label.lower() not in statement.lower(), (entry.label, statement)
        for field in entry.model._meta.concrete_fields:
            if "_" in field.name:
                assert field.name not in statement, (entry.label, field.name, statement)
