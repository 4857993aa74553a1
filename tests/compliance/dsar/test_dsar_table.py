"""The workflow table is the one definition of the DSAR actions (issue 14, "must show").

The admin's buttons and forms and the officer API's actions are the table's, every action leads
where the table says, four eyes is enforced from the table's data, and a second copy of the
action names anywhere in the code fails ``test_the_action_names_are_written_once``.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

from compliance.dsar import services
from compliance.dsar.checks import action_problems
from compliance.dsar.models import DsarStatus
from compliance.dsar.workflow import ACTIONS, ACTIONS_BY_SLUG, Action, all_inputs, next_actions
from tests.compliance.dsar.conftest import client_for
from tests.personas import otp_admin_login

ROOT = Path(__file__).resolve().parents[3]
CODE = ("compliance", "accounts", "ledger", "fintech", "kernel")
TABLE = ROOT / "compliance" / "dsar" / "workflow.py"
SLUGS = {action.slug for action in ACTIONS}
CHANGELIST = "/admin/compliance/datasubjectrequest/"


def action_name_copies(paths: list[Path]) -> dict[str, set[str]]:
    """Files (other than the table) with string literals naming three or more table actions,
    or naming an action no other vocabulary would use (a hyphenated slug)."""
    copies: dict[str, set[str]] = {}
    for path in paths:
        if path == TABLE:
            continue
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        named = {
            token.string.strip("\"'")
            for token in tokens
            if token.type == tokenize.STRING and token.string.strip("\"'") in SLUGS
        }
        if len(named) >= 3 or any("-" in slug for slug in named):
            copies[str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)] = named
    return copies


def test_the_action_names_are_written_once():
    paths = [path for package in CODE for path in (ROOT / package).rglob("*.py") if ".venv" not in path.parts]
    assert TABLE in paths
    assert action_name_copies(paths) == {}


def test_a_planted_second_copy_of_the_action_names_is_found(tmp_path):
    planted = tmp_path / "admin_copy.py"
    planted.write_text('LABELS = {"approve": "Approve", "reject": "Reject", "close": "Close"}\n')
    hyphenated = tmp_path / "views_copy.py"
    hyphenated.write_text('HANDLERS = {"verify-identity": None}\n')
    found = action_name_copies([planted, hyphenated])
    assert set(found) == {str(planted), str(hyphenated)}


@pytest.mark.django_db
def test_the_admins_actions_are_exactly_the_tables(client, officer, filed):
    dsar = filed("access")
    otp_admin_login(client, officer)
    for slug in SLUGS:
        page = client.get(f"{CHANGELIST}{dsar.pk}/act/{slug}/")
        assert page.status_code == 200, slug
        assert ACTIONS_BY_SLUG[slug].label in page.content.decode()
        # The form has exactly the action's inputs.
        assert set(page.context["form"].fields) == {spec.name for spec in ACTIONS_BY_SLUG[slug].inputs}
    assert client.get(f"{CHANGELIST}{dsar.pk}/act/teleport/").status_code == 404


@pytest.mark.django_db
def test_the_apis_actions_are_exactly_the_tables(officer, filed):
    dsar = filed("access")
    client = client_for(officer)
    for slug in SLUGS:
        response = client.post(f"/api/v1/officer/dsar/{dsar.public_id}/{slug}/", {}, format="json")
        # Every table action is routed: it answers with the action's own verdict, never "no such action".
        assert response.status_code in (200, 400, 409), (slug, response.status_code)
    assert client.post(f"/api/v1/officer/dsar/{dsar.public_id}/teleport/", {}, format="json").status_code == 404


def test_the_openapi_request_body_lists_every_input_of_the_table(openapi_document):
    operation = next(
        op
        for path in openapi_document["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and op.get("operationId") == "officer_dsar_action"
    )
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = openapi_document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == set(all_inputs())
    for slug in SLUGS:
        assert f"`{slug}`" in operation["description"]


def _walk_to(dsar, state: str, officer, second_officer):
    """Drive ``dsar`` (an access request, or a deletion for four eyes) to ``state`` through the services."""
    path = {
        DsarStatus.RECEIVED: [],
        DsarStatus.IDENTITY_VERIFIED: ["verify"],
        DsarStatus.IN_REVIEW: ["verify", "assign"],
        DsarStatus.APPROVED: ["verify", "assign", "approve"],
        DsarStatus.REJECTED: ["verify", "assign", "reject"],
        DsarStatus.FULFILLED: ["verify", "assign", "approve", "fulfil"],
        DsarStatus.PARTIALLY_FULFILLED: ["verify", "assign", "approve", "partial"],
        DsarStatus.CLOSED: ["verify", "assign", "reject", "close"],
    }[state]
    for step in path:
        match step:
            case "verify":
                services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
            case "assign":
                services.dsar_assign(actor=officer, dsar=dsar)
            case "approve":
                services.dsar_approve(actor=officer, dsar=dsar)
            case "reject":
                services.dsar_reject(actor=officer, dsar=dsar, reason="unfounded")
            case "fulfil" | "partial":
                services.dsar_fulfil(actor=officer, dsar=dsar, statement="done", partial=step == "partial")
            case "close":
                services.dsar_close(actor=officer, dsar=dsar)
    dsar.refresh_from_db()
    assert dsar.status == state
    return dsar


VALID_INPUTS = {
    "evidence": "ID document seen",
    "note": "checked",
    "reason": "Records are in archive storage",
    "days": 7,
    "statement": "Done.",
    "partial": False,
    "assignee": None,
    "method": "unclaimed",
}
# Actions that only apply to some request types, and the refusal they give any other type
# (tests/compliance/dsar/test_dsar_erasure_money.py and test_dsar_objection_and_lift.py walk them).
TYPE_RULES = {"settle-balance": "settlement_not_applicable", "lift-restriction": "lift_not_applicable"}


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.slug)
def test_every_action_leads_where_the_table_says(action: Action, officer, second_officer, filed, customer):
    for state in DsarStatus.values:
        # Four eyes binds for a request type that asks for it (deletion): in review, take that path.
        four_eyes = action.slug in ("request-approval", "approve") and state == DsarStatus.IN_REVIEW
        dsar = _walk_to(filed("deletion" if four_eyes else "access"), state, officer, second_officer)
        if four_eyes and action.slug == "approve":
            services.dsar_request_approval(actor=officer, dsar=dsar)
        # The approval and taking over a request held by the first officer are the second's steps.
        actor = second_officer if action.slug in ("approve", "assign") else officer
        before = dsar.status
        if state in action.from_states and action.slug in TYPE_RULES:
            # Bound to other request types (their own tests walk those): the state is checked first,
            # then the type's rule answers, and nothing moves.
            with pytest.raises(services.DsarError) as error:
                services.dsar_act(action.slug, actor=actor, dsar=dsar, inputs=VALID_INPUTS)
            assert error.value.code == TYPE_RULES[action.slug]
            dsar.refresh_from_db()
            assert dsar.status == before
        elif state in action.from_states:
            services.dsar_act(action.slug, actor=actor, dsar=dsar, inputs=VALID_INPUTS)
            dsar.refresh_from_db()
            assert dsar.status in (action.to_states or (before,)), (action.slug, state, dsar.status)
        else:
            with pytest.raises(services.DsarError) as error:
                services.dsar_act(action.slug, actor=actor, dsar=dsar, inputs=VALID_INPUTS)
            assert error.value.code == "invalid_transition"
            dsar.refresh_from_db()
            assert dsar.status == before


@pytest.mark.django_db
def test_a_required_input_is_refused_with_the_tables_message(officer, filed):
    dsar = filed("access")
    for action in ACTIONS:
        for spec in action.inputs:
            if not spec.required:
                continue
            with pytest.raises(services.DsarError) as error:
                services.dsar_act(action.slug, actor=officer, dsar=dsar, inputs={**VALID_INPUTS, spec.name: None})
            assert (error.value.code, error.value.message) == (spec.missing_code, spec.missing)


@pytest.mark.django_db
def test_four_eyes_from_the_table_decides_the_buttons(client, officer, second_officer, filed):
    dsar = filed("deletion")
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    dsar = services.dsar_assign(actor=officer, dsar=dsar)
    slugs = lambda actor: [action.slug for action in next_actions(dsar, actor=actor)]  # noqa: E731
    assert "approve" not in slugs(officer) and "request-approval" in slugs(officer)
    services.dsar_request_approval(actor=officer, dsar=dsar)
    dsar.refresh_from_db()
    assert "approve" not in slugs(officer), "the first officer may not approve"
    assert "approve" in slugs(second_officer) and "request-approval" not in slugs(second_officer)
    otp_admin_login(client, officer)
    page = client.get(f"{CHANGELIST}{dsar.pk}/change/").content.decode()
    assert "/act/approve/" not in page and "/act/reject/" in page
    otp_admin_login(client, second_officer)
    assert "/act/approve/" in client.get(f"{CHANGELIST}{dsar.pk}/change/").content.decode()
    # An access request never needs a second pair of eyes.
    access = filed("access")
    services.dsar_verify_identity(actor=officer, dsar=access, evidence="seen")
    access = services.dsar_assign(actor=officer, dsar=access)
    assert "approve" in [a.slug for a in next_actions(access, actor=officer)]
    assert "request-approval" not in [a.slug for a in next_actions(access, actor=officer)]


@pytest.mark.django_db
def test_the_check_finds_an_action_whose_service_is_missing_or_takes_other_inputs():
    from dataclasses import replace

    assert action_problems(ACTIONS) == []
    ghost = replace(ACTIONS_BY_SLUG["close"], slug="ghost", service="dsar_teleport")
    wrong = replace(ACTIONS_BY_SLUG["close"], inputs=ACTIONS_BY_SLUG["reject"].inputs)
    problems = action_problems([ghost, wrong])
    assert [problem.id for problem in problems] == ["compliance.E602", "compliance.E602"]
    assert "dsar_teleport" in problems[0].msg and "reason" in problems[1].msg
