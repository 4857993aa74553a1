"""The staff pages behind the landing page's buttons (wrapped in ``admin_view``: OTP-verified
staff only): the auditor's "verify now" and report export, and the idle-timeout keep-alive.

Refusals raise ``PermissionDenied``, which takes the one denial path (a 403 page, recorded as
PERMISSION_DENIED by kernel/errors.py).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from compliance.audit.selectors import events_to_csv, parse_period_bound
from compliance.audit.services import AuditAction, ReportTooLarge, audit_report_export, audit_verify_request


@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    """Enqueue a verification of the whole chain (after commit); recorded in the trail."""
    audit_verify_request(actor=request.user, request=request)
    messages.success(
        request, "Verification requested: the worker checks the whole chain now; this page shows the result."
    )
    return HttpResponseRedirect(reverse("admin:index"))


class PeriodField(forms.Field):
    def __init__(self, *, day_end: bool = False, **kwargs: Any) -> None:
        self.day_end = day_end
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()[:40]
        if not text:
            return None
        try:
            return parse_period_bound(text, day_end=self.day_end)
        except ValueError:
            raise forms.ValidationError("Use a date such as 2026-11-30.", code="invalid") from None


class ReportForm(forms.Form):
    date_from = PeriodField(label="From")
    date_to = PeriodField(label="To", day_end=True)
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    actor = forms.UUIDField(required=False, help_text="The acting user's public id.")
    output = forms.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], initial="csv")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] >= data["date_to"]:
            raise forms.ValidationError("'To' must be after 'From'.")
        return data


def audit_report(request: HttpRequest) -> HttpResponse:
    """The auditor's report export from the landing page: CSV or JSON by period, action, actor.
    Auditors only (the service checks); every export is an AUDIT_EXPORTED record."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    form = ReportForm(request.GET)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Report not exported: {error}")
        return HttpResponseRedirect(reverse("admin:index"))
    data = form.cleaned_data
    filters = {"from": data["date_from"], "to": data["date_to"], "action": data["action"], "actor": data["actor"]}
    try:
        report = audit_report_export(actor=request.user, filters=filters, output=data["output"], request=request)
    except ReportTooLarge as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("admin:index"))
    if data["output"] == "csv":
        response = HttpResponse(events_to_csv(report["events"]), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response
    response = HttpResponse(json.dumps(report, indent=1), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="audit-events.json"'
    return response


@require_POST
def keep_alive(request: HttpRequest) -> HttpResponse:
    """ "Stay signed in": any request refreshes the idle clock (accounts/middleware.py)."""
    return HttpResponse(status=204)
