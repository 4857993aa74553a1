"""Enqueue a Celery task by its registered name once the surrounding transaction commits.

Services schedule their own follow-up jobs (STYLE rule 4: side effects after commit) and tasks
call services: importing the task module from the service would make the two import each other.
The task name is the interface anyway (beat rows and queued messages are keyed by it), so the
service names it and the lookup fails loudly, at the call, if no such task is registered.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def enqueue_on_commit(task_name: str, *args: Any) -> None:
    if task_name not in current_app.tasks:
        # Tasks register when their module is imported; Celery's own discovery (the apps'
        # tasks modules, fintech/celery.py) imports them all, once per process.
        current_app.loader.import_default_modules()
    task = current_app.tasks[task_name]  # KeyError: a typo or an unregistered task, raised now
    task.delay_on_commit(*args)
