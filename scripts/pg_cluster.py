"""Throwaway PostgreSQL nodes on loopback for the drills (scripts/failover_drill.py, restore_drill.py).

Built from this machine's server binaries (``with_services.find_postgres_bin``), run as an
unprivileged account when we are root (PostgreSQL refuses root), in a directory the drill owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from with_services import as_unprivileged, find_postgres_bin, free_port


def server_bin() -> Path:
    """The newest PostgreSQL server bin directory on this machine (initdb, pg_ctl, pg_basebackup)."""
    folder = find_postgres_bin()
    if folder is None or not (folder / "pg_basebackup").exists():
        raise SystemExit("drill: no PostgreSQL server binaries (initdb, pg_basebackup) on this machine")
    return folder


def _gone(pid: int) -> bool:
    """The process has exited (or is a zombie waiting for its parent: it runs nothing any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class Node:
    def __init__(self, bin_dir: Path, data: Path, port: int, prefix: list[str]) -> None:
        self.bin, self.data, self.port, self.prefix = bin_dir, data, port, prefix

    def tool(self, name: str, *args: str) -> subprocess.CompletedProcess:
        # As an unprivileged account when we are root (PostgreSQL refuses root), like with_services.
        return subprocess.run([*self.prefix, str(self.bin / name), *args], check=True, capture_output=True, text=True)

    def configure(self, **settings: str) -> None:
        with open(self.data / "postgresql.auto.conf", "a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")

    def start(self) -> None:
        self.tool("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-t", "60", "start")

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True) as c:
            cursor = c.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend: the machine is gone, nothing shuts down cleanly."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pgrep = subprocess.run(["pgrep", "-P", str(postmaster)], check=False, capture_output=True, text=True)
        children = pgrep.stdout.split()
        for pid in [postmaster, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while not all(map(_gone, [postmaster, *map(int, children)])):
            time.sleep(0.01)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


def new_node(work: Path, name: str, **settings: str) -> Node:
    """initdb a fresh node in ``work/name`` listening on a free loopback port (not started)."""
    prefix, _ = as_unprivileged(work)
    node = Node(server_bin(), work / name, free_port(), prefix)
    node.tool("initdb", "-D", str(node.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    node.configure(
        port=str(node.port), listen_addresses="127.0.0.1", unix_socket_directories=str(work),
        shared_buffers="64MB", **settings,
    )  # fmt: skip
    return node


def copy_node(source: Node, work: Path, name: str) -> Node:
    """A node for a data directory another tool fills (pg_basebackup, a restore): not initdb'd."""
    prefix, _ = as_unprivileged(work)
    return Node(source.bin, work / name, free_port(), prefix)


def print_summary(summary: dict, *, as_json: bool) -> int:
    """Print a drill's findings (one JSON object, or a two-column table); exit 0 only if ``ok``."""
    if as_json:
        print(json.dumps(summary))
    else:
        width = max(map(len, summary)) + 2
        for key, value in summary.items():
            print(f"{key:<{width}} {value}")
    return 0 if summary["ok"] else 1
