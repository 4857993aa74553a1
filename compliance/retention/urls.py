from django.urls import path

from compliance.retention import views as api

urlpatterns = [
    path("officer/holds/", api.OfficerHoldListView.as_view(), name="officer-holds"),
    path("officer/holds/<uuid:public_id>/release/", api.OfficerHoldReleaseView.as_view(), name="officer-hold-release"),
]
