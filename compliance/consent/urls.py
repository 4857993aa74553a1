"""Consent API routes, included under /api/v1/ by fintech/urls.py."""

from django.urls import path

from compliance.consent import views as api_consent

urlpatterns = [
    path("purposes/", api_consent.PurposeListView.as_view(), name="purpose-list"),
    path("consents/", api_consent.ConsentView.as_view(), name="consent-list"),
    path("consents/history/", api_consent.ConsentHistoryView.as_view(), name="consent-history"),
]
