"""The seeded retention policies present for every database test here (see tests/scheduled_job_fixtures.py)."""

from tests.scheduled_job_fixtures import seeded_policies  # noqa: F401
