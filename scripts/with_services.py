#!/usr/bin/env python3
"""Run a command with PostgreSQL and Redis available, starting throwaway servers if needed.

    scripts/with_services.py -- pytest ...

For each service: use DATABASE_URL / REDIS_URL when set; otherwise use 127.0.0.1:5432 / :6379
if something answers there; otherwise start a throwaway server from the installed binaries in a
temporary directory (stopped and deleted afterwards). If there are no binaries either, exit
non-zero with one message saying how to get them. Standard library only: it runs before, and
independently of, the project's virtualenv.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Test databases are named after the checkout, so two checkouts testing at once on one server
# (CI beside a developer, a fresh-clone check) never drop each other's test databases.
CHECKOUT_DB = "fintech_" + hashlib.sha1(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:8]  # noqa: S324

# Set to exercise the throwaway-server path on a machine that already runs both services.
FORCE_THROWAWAY = os.environ.get("WITH_SERVICES_THROWAWAY") == "1"

HOW_TO_GET_THEM = (
    "PostgreSQL and Redis are required for the tests and none were reachable or installed.\n"
    "Either point DATABASE_URL=postgres://... and REDIS_URL=redis://... at running servers, or "
    "install the server binaries (Debian/Ubuntu: apt-get install postgresql redis-server; "
    "macOS: brew install postgresql@15 redis) and run `make test` again."
)


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(host: str, port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port, timeout=0.5):
            return
        time.sleep(0.2)
    raise SystemExit(f"with_services: the throwaway {what} did not start within {seconds:.0f}s")


def find_postgres_bin() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # a symlink on PATH: the real server bin directory
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    candidates += sorted(glob.glob("/usr/local/opt/postgresql*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def as_unprivileged(workdir: Path) -> tuple[list[str], int | None]:
    """PostgreSQL refuses to run as root: run it as the 'postgres' (or 'nobody') account."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        return ["runuser", "-u", name, "--"], account.pw_uid
    raise SystemExit("with_services: running as root and no unprivileged account to run PostgreSQL")


class Services:
    def __init__(self) -> None:
        self.cleanups: list = []
        self.tmp: Path | None = None

    def workdir(self) -> Path:
        if self.tmp is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="fintech-services-"))
            os.chmod(self.tmp, 0o755)  # noqa: S103 - the unprivileged server account must enter it
            self.cleanups.append(lambda: shutil.rmtree(self.tmp, ignore_errors=True))
        return self.tmp

    def postgres(self) -> str:
        if os.environ.get("DATABASE_URL"):
            return os.environ["DATABASE_URL"]
        if not FORCE_THROWAWAY and answers("127.0.0.1", 5432):
            return f"postgres://postgres@127.0.0.1:5432/{CHECKOUT_DB}"
        bindir = find_postgres_bin()
        if bindir is None:
            raise SystemExit(HOW_TO_GET_THEM)
        data = self.workdir() / "pgdata"
        data.mkdir()
        prefix, _ = as_unprivileged(self.workdir())
        port = free_port()
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = f"-p {port} -k {self.workdir()} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.workdir() / "pg.log"),
                "-w",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.cleanups.append(
            lambda: subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        )
        wait_for("127.0.0.1", port, "PostgreSQL")
        print(f"with_services: started a throwaway PostgreSQL on 127.0.0.1:{port}", file=sys.stderr)
        return f"postgres://postgres@127.0.0.1:{port}/fintech"

    def redis(self) -> str:
        if os.environ.get("REDIS_URL"):
            return os.environ["REDIS_URL"]
        if not FORCE_THROWAWAY and answers("127.0.0.1", 6379):
            return "redis://127.0.0.1:6379/0"
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit(HOW_TO_GET_THEM)
        port = free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.cleanups.append(lambda: (process.terminate(), process.wait(timeout=10)))
        wait_for("127.0.0.1", port, "Redis")
        print(f"with_services: started a throwaway Redis on 127.0.0.1:{port}", file=sys.stderr)
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # cleanup is best effort; report and go on
                print(f"with_services: cleanup failed: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    services = Services()
    try:
        env = dict(os.environ, DATABASE_URL=services.postgres(), REDIS_URL=services.redis())
        child = subprocess.Popen(command, env=env)
        # Forward Ctrl-C/TERM to the child and still clean up the servers afterwards.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        return child.wait()
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
