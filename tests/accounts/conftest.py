from __future__ import annotations

import pytest

from tests.accounts.helpers import audit_mark_now


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    # Audit assertions are about what the test body does, not what fixtures (personas) did.
    if item.get_closest_marker("django_db") or "db" in getattr(item, "fixturenames", ()):
        audit_mark_now()
    yield


@pytest.fixture
def eager_tasks(monkeypatch):
    """Run Celery tasks in-process, so mail sent by a task lands in ``mail.outbox``."""
    from fintech.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    return app
