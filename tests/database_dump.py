"""``pg_dump --data-only`` of the current test database, for "no sentinel in clear" assertions."""

from __future__ import annotations

import os
import subprocess

from django.db import connection


def pg_dump_data() -> str:
    settings_dict = connection.settings_dict
    env = {**os.environ}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return subprocess.run(
        [
            "pg_dump", "--data-only",
            "--host", settings_dict.get("HOST") or "127.0.0.1",
            "--port", str(settings_dict.get("PORT") or 5432),
            "--username", settings_dict.get("USER") or "postgres",
            settings_dict["NAME"],
        ],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    ).stdout  # fmt: skip
