"""Segregation of duties, checked from the code (issue 15; PCI DSS 6.5.4 / 7.2).

Every public function of ``accounts/services.py``, ``ledger/**/services.py`` and
``compliance/**/services.py`` that checks a staff permission (``require_permission`` /
``has_permission`` / ``has_perm``, directly or through a module-local helper) is a *staff service*.
Each must either call ``kernel.access.require_not_own`` (staff never act on their own account or
data subject) or be declared in ``NO_SUBJECT`` below with the reason it has no subject to protect.
The system check ``fintech.E003`` (``manage.py check``) fails on a staff service that is neither,
and ``fintech.E004`` on a declaration naming no staff service; tests/test_segregation_of_duties.py
proves, per staff service, that acting on oneself is refused and changes nothing.
"""

from __future__ import annotations

import ast
import pathlib

STAFF_CHECKS = frozenset({"require_permission", "has_permission", "has_perm"})
GUARD = "require_not_own"
SERVICE_GLOBS = ("accounts/services.py", "ledger/**/services.py", "compliance/**/services.py")

# Staff services without a subject of their own to protect, and why.
NO_SUBJECT = {
    "compliance.consent.services.marketing_audience_export": "an export of the audience; acts on no one account",
    "compliance.audit.services.audit_report_export": "a read of the trail for the auditor; acts on no one account",
    "compliance.audit.services.audit_verify_request": "a check of the whole chain; acts on no one account",
    # The staff permission is checked only when the actor is *not* the subject (filing or recording
    # on someone's behalf); acting for oneself is the customer's own path, which needs no staff right.
    "compliance.dsar.services.dsar_file": "on behalf of another person only (filed_by != subject)",
    "compliance.consent.services.consent_record": "on behalf of another person only (actor != subject)",
    "compliance.consent.services.consent_record_choices": "on behalf of another person only (actor != subject)",
    "compliance.audit.services.pi_reveal": "a read of masked values (audited with a reason); changes no account",
    "compliance.audit.services.revealable": "a question (which fields may this user reveal); acts on nothing",
    "accounts.services.staff_user_create": "creates a new staff account; acts on no existing account",
}


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def staff_services(root: pathlib.Path) -> dict[str, set[str]]:
    """``{"module.function": names it calls, transitively through its module's own functions}``
    for every public service under ``root`` that checks a staff permission."""
    found: dict[str, set[str]] = {}
    paths = sorted(path for pattern in SERVICE_GLOBS for path in root.glob(pattern))
    for path in paths:
        tree = ast.parse(path.read_text())
        functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        direct = {name: _called_names(node) for name, node in functions.items()}

        def reach(name: str, seen: set[str], direct: dict[str, set[str]] = direct) -> set[str]:
            if name in seen:
                return set()
            seen.add(name)
            names = set(direct.get(name, ()))
            for callee in list(names & direct.keys()):
                names |= reach(callee, seen)
            return names

        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for name in functions:
            calls = reach(name, set())
            if not name.startswith("_") and calls & STAFF_CHECKS:
                found[f"{module}.{name}"] = calls
    return found


def problems(root: pathlib.Path, declared: dict[str, str] = NO_SUBJECT) -> list[tuple[str, str]]:
    """``[(check id, service)]``: unguarded staff services (E003) and stale declarations (E004)."""
    services = staff_services(root)
    unguarded = [
        ("fintech.E003", name) for name, calls in services.items() if GUARD not in calls and name not in declared
    ]
    stale = [("fintech.E004", name) for name in declared if name not in services]
    return sorted(unguarded + stale)
