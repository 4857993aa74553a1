"""Scheduled-job fixtures for these tests (see tests/scheduled_job_fixtures.py)."""

from tests.scheduled_job_fixtures import _private_secrets_file, seeded_policies  # noqa: F401
