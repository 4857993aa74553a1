"""Every add form of every registered admin screen, posted by a superuser empty, twice, and with
hostile values in every field, answers without a server error; screens of records nobody writes
by hand refuse to write at all.

Found by wapiti in `make dast`: POST /admin/django_celery_results/taskresult/add/ answered 500
(the stock screen's add form has no fields, saved an empty task result, and the second one broke
the unique task id). Task results, the token blacklist, the lockout logs and the role groups are
now read-only for everyone (fintech/admin.py, accounts/admin.py); the add forms that remain are a
declared list, so a new screen taking hand-made rows is a decision, not an accident.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.personas import make_staff, otp_admin_login

# The screens on which a superuser may create a row by hand; each goes through a form that
# validates, most through a service.
ADDABLE = {
    "accounts.user",  # staff accounts (accounts.services.staff_user_create)
    "compliance.datasubjectrequest",  # a request taken by phone or letter, filed for the subject
    "compliance.legalhold",
    "compliance.processingpurpose",
    "compliance.purposenotice",
    "compliance.retentionpolicy",
    # The scheduler's own vocabulary: an administrator may schedule a declared task differently.
    "django_celery_beat.clockedschedule",
    "django_celery_beat.crontabschedule",
    "django_celery_beat.intervalschedule",
    "django_celery_beat.periodictask",
    "django_celery_beat.solarschedule",
}
# Machine-written records and declared vocabularies: shown, never written in the admin.
READ_ONLY = {
    "auth.group": "roles are declared in accounts/roles.py and synced by sync_roles",
    "axes.accesslog": "sign-in evidence, expired by the retention purge",
    "axes.accessfailurelog": "sign-in evidence, expired by the retention purge",
    "django_celery_results.taskresult": "the worker's record of a task",
    "django_celery_results.groupresult": "the worker's record of a group of tasks",
    "token_blacklist.blacklistedtoken": "revocations made by the services that revoke",
}

HOSTILE = ["", "' OR 1=1 --", "\x00", "a" * 5000, "-1", "9" * 30, "2026-13-45", "<script>x</script>", "ñ漢字🙂"]


def _superuser_request():
    request = RequestFactory().get("/")
    request.user = make_staff("admin", superuser=True, email="probe@staff.example.test")
    return request


def _screens():
    """The platform's screens (the test apps' own screens are not the product's)."""
    return {
        model._meta.label_lower: (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if not model.__module__.startswith("tests.")
    }


@pytest.mark.django_db
def test_the_screens_a_superuser_may_add_to_are_the_declared_ones():
    request = _superuser_request()
    addable = {label for label, (_, model_admin) in _screens().items() if model_admin.has_add_permission(request)}
    assert addable == ADDABLE


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(READ_ONLY))
def test_machine_written_screens_are_read_only_for_a_superuser_too(client, label):
    request = _superuser_request()
    model, model_admin = _screens()[label]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)
    otp_admin_login(client, request.user)
    client.raise_request_exception = False
    app_label, model_name = label.split(".")
    before = model._default_manager.count()
    assert client.post(reverse(f"admin:{app_label}_{model_name}_add"), {}).status_code == 403
    assert client.get(reverse(f"admin:{app_label}_{model_name}_changelist")).status_code == 200
    assert model._default_manager.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(ADDABLE))
def test_every_add_form_survives_empty_repeated_and_hostile_posts(client, label):
    request = _superuser_request()
    otp_admin_login(client, request.user)
    client.raise_request_exception = False
    app_label, model_name = label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_add")
    page = client.get(url)
    assert page.status_code == 200
    # The fields the page really posts (some screens render their own form through a service).
    posted = re.findall(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"', page.content.decode())
    fields = sorted(set(posted) - {"csrfmiddlewaretoken"})
    assert fields, f"{label}: an add form with no fields saves an empty row"
    failures = []
    for data in [{}, {}, *(dict.fromkeys(fields, value) for value in HOSTILE for _ in range(2))]:
        response = client.post(url, data)
        if response.status_code >= 500:
            failures.append((repr(next(iter(data.values()), "")[:20]), response.status_code))
    assert failures == []


@pytest.mark.django_db
def test_a_crontab_celery_cannot_read_is_the_forms_error_and_a_good_one_saves(client):
    from django_celery_beat.models import CrontabSchedule

    otp_admin_login(client, make_staff("admin", superuser=True))
    url = reverse("admin:django_celery_beat_crontabschedule_add")
    good = {"minute": "15", "hour": "3", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
    good |= {"timezone": "UTC"}
    good |= {"periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"}  # the tasks inline, empty
    before = CrontabSchedule.objects.count()
    refused = client.post(url, {**good, "hour": "-1"})
    assert refused.status_code == 200
    assert "Not a valid crontab value" in refused.content.decode()
    assert CrontabSchedule.objects.count() == before
    assert client.post(url, good).status_code == 302
    assert CrontabSchedule.objects.filter(minute="15", hour="3").exists()
