"""Compliance API routes, included under /api/v1/ by fintech/urls.py."""

from django.urls import path

from compliance.audit.views import (
    AuditEventListView,
    AuditEventReportView,
    ChainStatusView,
    ConsistencyProofView,
    InclusionProofView,
)

urlpatterns = [
    path("audit/events/", AuditEventListView.as_view(), name="audit-events"),
    path("audit/verify/", ChainStatusView.as_view(), name="audit-verify"),
    path("audit/events/<int:pk>/proof/", InclusionProofView.as_view(), name="audit-event-proof"),
    path("audit/consistency/", ConsistencyProofView.as_view(), name="audit-consistency"),
    path("audit/reports/events/", AuditEventReportView.as_view(), name="audit-report-events"),
]
