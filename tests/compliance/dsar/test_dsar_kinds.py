"""One handler class per request type, one registry (issue 14, "must show").

A new type is one class and one registration: a throwaway type registered here is filed, approved
and carried out through the services and the API without touching any other code. The registry
covers exactly ``DsarType``, and no code outside the handlers asks "which type is this?".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from compliance.dsar import services
from compliance.dsar.checks import registry_problems
from compliance.dsar.kinds import (
    DsarKind,
    Filing,
    FilingInput,
    Fulfilment,
    KindRegistry,
    Outcome,
    kind_for,
    kinds,
)
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarStatus, DsarType
from tests.compliance.dsar.conftest import client_for

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


def test_the_registry_covers_exactly_the_stored_types():
    assert kinds.slugs() == DsarType.values
    assert kinds.choices() == DsarType.choices
    assert registry_problems(kinds) == []


def test_the_check_fails_on_a_missing_or_an_extra_type():
    partial = KindRegistry()
    for kind in kinds:
        if kind.slug != "portability":
            partial.register(type(kind))

    class Telepathy(DsarKind):
        slug = "telepathy"
        label = "Telepathy"
        statute = "none"
        fulfilment = Fulfilment.EXPORT

    partial.register(Telepathy)
    problems = registry_problems(partial)
    assert [problem.id for problem in problems] == ["compliance.E601", "compliance.E601"]
    assert "'portability'" in problems[0].msg and "'telepathy'" in problems[1].msg


def test_a_type_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(type(kind_for("access")))


def test_each_type_declares_what_it_needs():
    assert {kind.slug for kind in kinds.taking(FilingInput.PURPOSES)} == {"objection", "restriction"}
    assert {kind.slug for kind in kinds.taking(FilingInput.REQUESTED_CHANGES)} == {"correction"}
    assert {kind.slug for kind in kinds if kind.four_eyes} == {"deletion"}
    assert {kind.slug: kind.fulfilment for kind in kinds} == {
        "access": Fulfilment.EXPORT,
        "correction": Fulfilment.AT_APPROVAL,
        "deletion": Fulfilment.ERASURE,
        "portability": Fulfilment.EXPORT,
        "objection": Fulfilment.AT_APPROVAL,
        "restriction": Fulfilment.AT_APPROVAL,
    }
    assert all(kind.statute.startswith("POPIA s") for kind in kinds)


def test_inputs_a_type_does_not_take_are_refused(customer, filed):
    for type_, extra, code in [
        ("access", {"purposes": ["direct_marketing"]}, "purposes_not_applicable"),
        ("deletion", {"requested_changes": {"last_name": "X"}}, "changes_not_applicable"),
        ("objection", {"purposes": []}, "purposes_required"),
    ]:
        with pytest.raises(services.DsarError) as error:
            services.dsar_file(subject=customer, filed_by=customer, type=type_, **extra)
        assert error.value.code == code
    with pytest.raises(services.DsarError) as error:
        services.dsar_file(subject=customer, filed_by=customer, type="telepathy")
    assert error.value.code == "invalid_type"
    assert not DataSubjectRequest.objects.exists()


class Throwaway(DsarKind):
    """A made-up type: needs details, two officers, and is carried out at approval."""

    slug = "throwaway"
    label = "Throwaway (test)"
    statute = "none: a test type"
    four_eyes = True
    fulfilment = Fulfilment.AT_APPROVAL
    done: ClassVar[list[str]] = []

    def clean(self, filing: Filing) -> Filing:
        if "please" not in filing.details:
            raise services.DsarError("Ask nicely.", code="impolite")
        return filing

    def approved(self, *, actor: Any, dsar: DataSubjectRequest) -> Outcome:
        self.done.append(str(dsar.public_id))
        return Outcome("Thrown away.", partial=True)

    def rejected(self, *, actor: Any, dsar: DataSubjectRequest, reason: str) -> None:
        self.done.append(f"rejected {dsar.public_id}")


@pytest.fixture
def throwaway():
    kinds.register(Throwaway)
    Throwaway.done.clear()
    try:
        yield kind_for("throwaway")
    finally:
        kinds.unregister("throwaway")


def test_a_new_type_is_one_class_and_one_registration(throwaway, customer, officer, second_officer):
    with pytest.raises(services.DsarError) as error:
        services.dsar_file(subject=customer, filed_by=customer, type="throwaway", details="now")
    assert error.value.code == "impolite"
    # Filed through the customer API: the serializer's type choices come from the registry.
    response = client_for(customer).post(
        "/api/v1/dsar/", {"type": "throwaway", "details": "please bin it"}, format="json"
    )
    assert response.status_code == 201, response.json()
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    services.dsar_assign(actor=officer, dsar=dsar)
    # Its four eyes come from the class: the workflow table's rule binds.
    with pytest.raises(services.DsarError) as error:
        services.dsar_approve(actor=officer, dsar=dsar)
    assert error.value.code == "second_approval_required"
    services.dsar_request_approval(actor=officer, dsar=dsar)
    approve = client_for(second_officer).post(f"/api/v1/officer/dsar/{dsar.public_id}/approve/", {}, format="json")
    assert approve.status_code == 200, approve.json()
    assert approve.json()["status"] == DsarStatus.PARTIALLY_FULFILLED
    assert approve.json()["outcome_statement"] == "Thrown away."
    assert Throwaway.done == [str(dsar.public_id)]
    # And its rejection hook runs on a rejection.
    other = services.dsar_file(subject=customer, filed_by=customer, type="throwaway", details="please")
    services.dsar_verify_identity(actor=officer, dsar=other, evidence="seen")
    services.dsar_assign(actor=officer, dsar=other)
    services.dsar_reject(actor=officer, dsar=other, reason="no")
    assert Throwaway.done[-1] == f"rejected {other.public_id}"
    transitions = DsarEvent.objects.filter(dsar=dsar, kind="transition").values_list("to_status", flat=True)
    assert list(transitions) == ["received", "identity_verified", "in_review", "approved", "partially_fulfilled"]


def test_the_export_and_erasure_tasks_only_take_their_own_types(officer, filed):
    from compliance.dsar.erasure import erase_subject
    from compliance.dsar.export import export_create

    access = filed("access")
    deletion = filed("deletion")
    for dsar in (access, deletion):
        DataSubjectRequest.objects.filter(pk=dsar.pk).update(status=DsarStatus.APPROVED)
    assert erase_subject(dsar=access) is None
    assert export_create(dsar=deletion) is None
    assert DataSubjectRequest.objects.filter(status=DsarStatus.APPROVED).count() == 2


# "Which type is this?" outside the handlers: a comparison with a DsarType member or of a `.type`.
_TYPE_DISPATCH = re.compile(r"DsarType\.[A-Z_]+\b|\.type\s*(==|!=|\bin\b|\bnot in\b)|\btype_?\s*==\s*[\"']")


def type_dispatch_sites(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _TYPE_DISPATCH.search(line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    return found


def test_no_code_outside_the_handlers_dispatches_on_the_type(tmp_path):
    code = [p for p in (ROOT / "compliance" / "dsar").glob("*.py") if p.name not in ("kinds.py", "models.py")]
    assert type_dispatch_sites(code) == []
    planted = tmp_path / "services.py"
    planted.write_text("if dsar.type == DsarType.DELETION:\n    pass\nelif dsar.type in (1, 2):\n    pass\n")
    assert len(type_dispatch_sites([planted])) == 2
