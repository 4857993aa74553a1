from django.contrib import admin

from compliance.audit.admin import PIMaskedAdmin
from compliance.crypto.admin import BlindIndexSearchMixin
from tests.pi_testapp.models import Subject


@admin.register(Subject)
class SubjectAdmin(PIMaskedAdmin, BlindIndexSearchMixin, admin.ModelAdmin):
    list_display = ("public_id", "status", "created_at")
    blind_index_search_fields = ("email", "phone", "id_number")
    search_fields = ("nickname",)
