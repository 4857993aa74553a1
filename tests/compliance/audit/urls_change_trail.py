"""A stand-in JWT-authenticated DRF endpoint that changes a change-tracked model."""

from django.urls import path

from tests.compliance.audit.test_audit_records import RenameView

urlpatterns = [path("rename/", RenameView.as_view())]
