from django.urls import path

from compliance.dsar import views as api

urlpatterns = [
    path("dsar/", api.DsarListCreateView.as_view(), name="dsar-list"),
    path("dsar/<uuid:public_id>/", api.DsarDetailView.as_view(), name="dsar-detail"),
    path("dsar/<uuid:public_id>/download/", api.DsarDownloadView.as_view(), name="dsar-download"),
    path("officer/dsar/", api.OfficerFileView.as_view(), name="officer-dsar-file"),
    path("officer/dsar/<uuid:public_id>/<slug:action>/", api.OfficerActionView.as_view(), name="officer-dsar-action"),
]
