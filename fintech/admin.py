"""The plumbing's screens: Celery's task results and the scheduler's crontab form.

- Task results are read-only for everyone (superusers too). A task result is the worker's record
  of what ran and how it ended (tests/fintech/test_schedule.py shows a failure there). Nobody
  writes one by hand: the stock screen's add form saved an empty result, and a second one broke
  the unique task id (a 500 found by `make dast`). Results expire through Celery's own daily
  ``celery.backend_cleanup``, not by deletion in the admin.
- A crontab is validated as Celery reads it: the stock form accepted a value such as "-1" that
  Celery's parser rejects, and the page then failed to render its "human readable" line (a 500
  found by tests/test_admin_forms_fuzz.py). The error is now the form's, on the field.
"""

from __future__ import annotations

from typing import Any

from celery import schedules
from django import forms
from django.apps import apps

from kernel.admin import ReadOnlyAdminMixin, reregister

CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


class CrontabForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in CRONTAB_FIELDS:
            value = cleaned.get(name)
            if name in self.errors or value is None:
                continue
            try:
                schedules.crontab(**{name: value})
            except (schedules.ParseException, ValueError) as error:
                self.add_error(name, f"Not a valid crontab value ({error}).")
        return cleaned


class CrontabValidationMixin:
    form = CrontabForm


if apps.is_installed("django_celery_results"):
    import django_celery_results.admin  # noqa: F401 - registers the stock screens, so they can be replaced

    for name in ("TaskResult", "GroupResult"):
        reregister(apps.get_model("django_celery_results", name), ReadOnlyAdminMixin)

if apps.is_installed("django_celery_beat"):
    import django_celery_beat.admin  # noqa: F401 - as above

    reregister(apps.get_model("django_celery_beat", "CrontabSchedule"), CrontabValidationMixin)
