"""The Celery application: Redis broker (a file-system broker in the dev profile), database
results and the database beat scheduler, with the request id carried into every task."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from kernel.metrics import TASK_FAILURES
from kernel.request_context import get_request_id, new_request_id, reset_request_id, set_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fintech.settings.dev")

app = Celery("fintech")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["fintech"])


@app.on_after_finalize.connect
def _declare_schedule(sender: Celery, **kwargs: Any) -> None:
    # One place declares the schedule (fintech/schedule.py); django-celery-beat's database
    # scheduler copies it into the admin-visible PeriodicTask table when beat starts.
    from fintech.schedule import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE


@signals.setup_logging.connect
def _use_django_logging(**kwargs: Any) -> None:
    # Connecting here stops Celery from installing its own (unredacted, non-JSON) handlers:
    # workers and beat log exactly like the web process, through the PII redaction filter.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


_HEADER = "request_id"
_tokens: dict[str, Any] = {}


@signals.before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Stamp outgoing tasks with the current request id so their log lines can be joined up."""
    if headers is not None and not headers.get(_HEADER):
        headers[_HEADER] = get_request_id() or new_request_id()


@signals.task_prerun.connect
def _adopt_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    request_id = getattr(task.request, _HEADER, None) if task is not None else None
    if task_id:
        _tokens[task_id] = set_request_id(request_id or new_request_id())


@signals.task_postrun.connect
def _release_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        reset_request_id(token)


@signals.task_failure.connect
def _count_task_failure(sender: Any = None, **kwargs: Any) -> None:
    # Plumbing: a failed task is visible as a metric (and in the admin, through its TaskResult).
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
