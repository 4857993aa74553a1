"""A real high-availability PostgreSQL cluster on loopback, for the drills (SPEC C9, issue 18).

etcd (one member), N PostgreSQL nodes each run by Patroni, and HAProxy routing writes to the
leader through Patroni's REST checks, all from this machine's packages (scripts/ops_tools.py
installs them), in a temporary directory, on free loopback ports. The configuration is the one
shipped for production (deploy/patroni/patroni.yml, deploy/haproxy/haproxy.cfg), rendered with
drill values: trust authentication on loopback, small buffers.

PostgreSQL, and so Patroni, runs as the ``postgres`` account (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ops_tools import patroni_bin
from pg_cluster import server_bin
from with_services import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
HOST = "127.0.0.1"


PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: Path, **values: str) -> str:
    """A shipped configuration file with its ``${UPPER_CASE}`` placeholders filled, as
    ``envsubst '${NAME} ...'`` does in production (every one of them, or KeyError); the file's own
    ``$variables`` (nginx's ``$host``) are left alone."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template.read_text())


def _postgres_account() -> tuple[int, int]:
    account = pwd.getpwnam("postgres")
    return account.pw_uid, account.pw_gid


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class PatroniNode:
    name: str
    work: Path
    pg_port: int
    rest_port: int
    process: subprocess.Popen | None = None
    stopped_pids: list[int] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.work / self.name / "data"

    @property
    def config(self) -> Path:
        return self.work / self.name / "patroni.yml"

    @property
    def log(self) -> Path:
        return self.work / self.name / "patroni.log"

    def rest(self, path: str, timeout: float = 1.0) -> tuple[int, dict]:
        """GET Patroni's REST API: (status, body); (0, {}) when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.rest_port}{path}", timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            with contextlib.suppress(ValueError):
                return error.code, json.loads(error.read() or b"{}")
            return error.code, {}
        except (OSError, ValueError):
            return 0, {}

    def start(self, environment: dict[str, str]) -> None:
        uid, gid = _postgres_account()
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [str(patroni_bin()), str(self.config)], cwd=self.work, user=uid, group=gid, extra_groups=[],
            env={**environment, "HOME": str(self.work), "USER": "postgres"}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def postmaster(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        """Patroni, the postmaster and every PostgreSQL backend of this node."""
        pids = [self.process.pid] if self.process and self.process.poll() is None else []
        postmaster = self.postmaster()
        if postmaster and Path(f"/proc/{postmaster}").exists():
            pids += [postmaster, *_children(postmaster)]
        return pids

    def kill(self) -> None:
        """The machine is lost: SIGKILL Patroni and PostgreSQL together (killing PostgreSQL alone
        only makes Patroni restart it)."""
        _signal_all(self.pids(), signal.SIGKILL)
        if self.process:
            self.process.wait(timeout=30)
        postmaster = self.postmaster()
        deadline = time.monotonic() + 30
        while postmaster and Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def freeze(self) -> None:
        """The machine hangs (SIGSTOP): TCP connections stay open, nothing answers."""
        self.stopped_pids = self.pids()
        _signal_all(self.stopped_pids, signal.SIGSTOP)

    def thaw(self) -> None:
        _signal_all(self.stopped_pids, signal.SIGCONT)
        self.stopped_pids = []

    def stop(self) -> None:
        self.thaw()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        postmaster = self.postmaster()
        if postmaster:
            _signal_all([postmaster, *_children(postmaster)], signal.SIGKILL)


class PatroniCluster:
    """etcd + ``size`` Patroni nodes + HAProxy; ``write_url``/``read_url`` are the app's URLs."""

    def __init__(self, work: Path, size: int = 3, archive_command: str = "/bin/true", archive_timeout: str = "60s"):
        self.work, self.size = work, size
        self.archive_command, self.archive_timeout = archive_command, archive_timeout
        self.etcd_client, self.etcd_peer = free_port(), free_port()
        self.write_port, self.read_port = free_port(), free_port()
        self.nodes = [PatroniNode(f"pg{n}", work, free_port(), free_port()) for n in range(1, size + 1)]
        self.etcd: subprocess.Popen | None = None
        self.haproxy: subprocess.Popen | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        os.chmod(self.work, 0o755)  # noqa: S103 - the postgres account enters it
        self._start_etcd()
        environment = {"PATH": f"{server_bin()}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        uid, gid = _postgres_account()
        for node in self.nodes:
            (self.work / node.name).mkdir(mode=0o700)
            node.config.write_text(self.node_config(node))
            for path in (self.work / node.name, node.config):
                os.chown(path, uid, gid)
        self.nodes[0].start(environment)  # the first node bootstraps (initdb) and leads
        self.wait_for(lambda: self.leader() is self.nodes[0], timeout, "the first node to bootstrap and lead")
        for node in self.nodes[1:]:
            node.start(environment)
        self._start_haproxy()
        if self.size > 1:
            self.wait_for(lambda: self.sync_standby() is not None and self.streaming() == self.size - 1, timeout,
                          "every replica to stream and one to be the synchronous standby")  # fmt: skip
        self.environment = environment

    def node_config(self, node: PatroniNode) -> str:
        return render(
            DEPLOY / "patroni" / "patroni.yml",
            NODE_NAME=node.name, NODE_HOST=HOST, REST_PORT=str(node.rest_port), PG_PORT=str(node.pg_port),
            ETCD_HOSTS=f"{HOST}:{self.etcd_client}", DATA_DIR=str(node.data), PG_BIN_DIR=str(server_bin()),
            PGPASS_FILE=str(self.work / node.name / "pgpass"), SOCKET_DIR=str(self.work / node.name),
            AUTH_METHOD="trust", CLIENT_NETWORK=f"{HOST}/32", SUPERUSER_PASSWORD="drill-only",  # noqa: S106  # pragma: allowlist secret
            REPLICATION_PASSWORD="drill-only", REWIND_PASSWORD="drill-only",  # noqa: S106  # pragma: allowlist secret
            ARCHIVE_COMMAND=json.dumps(self.archive_command), ARCHIVE_TIMEOUT=self.archive_timeout,
            SHARED_BUFFERS="32MB",
        )  # fmt: skip

    def _start_etcd(self) -> None:
        data = self.work / "etcd"
        log = open(self.work / "etcd.log", "ab")  # noqa: SIM115 - handed to the child process
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "etcd1", "--data-dir", str(data),
             "--listen-client-urls", f"http://{HOST}:{self.etcd_client}",
             "--advertise-client-urls", f"http://{HOST}:{self.etcd_client}",
             "--listen-peer-urls", f"http://{HOST}:{self.etcd_peer}",
             "--initial-advertise-peer-urls", f"http://{HOST}:{self.etcd_peer}",
             "--initial-cluster", f"etcd1=http://{HOST}:{self.etcd_peer}",
             "--initial-cluster-state", "new", "--enable-v2=false"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_for(self._etcd_healthy, 30, "etcd to answer")

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.etcd_client}/health", timeout=1) as answer:
                return json.loads(answer.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def _start_haproxy(self) -> None:
        def servers(prefix: str) -> str:
            return "\n".join(
                f"    server {prefix}{node.name} {HOST}:{node.pg_port} check port {node.rest_port}"
                for node in self.nodes
            )

        config = self.work / "haproxy.cfg"
        config.write_text(
            render(
                DEPLOY / "haproxy" / "haproxy.cfg",
                BIND_HOST=HOST,
                WRITE_PORT=str(self.write_port),
                READ_PORT=str(self.read_port),
                WRITE_SERVERS=servers("w-"),
                READ_SERVERS=servers("r-"),
            )
        )
        subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True)
        log = open(self.work / "haproxy.log", "ab")  # noqa: SIM115 - handed to the child process
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        for process in (self.haproxy, self.etcd):
            if process and process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                if process.poll() is None:
                    process.kill()

    # -- state ----------------------------------------------------------------------------------
    @property
    def write_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.write_port}"

    @property
    def read_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.read_port}"

    def members(self) -> list[dict]:
        """``patronictl list`` as data, from any node that answers."""
        for node in self.nodes:
            if node.stopped_pids:
                continue
            status, body = node.rest("/cluster")
            if status == 200:
                return body.get("members", [])
        return []

    def _node(self, name: str | None) -> PatroniNode | None:
        return next((node for node in self.nodes if node.name == name), None)

    def leader(self) -> PatroniNode | None:
        return self._node(
            next((m["name"] for m in self.members() if m["role"] == "leader" and m["state"] == "running"), None)
        )

    def sync_standby(self) -> PatroniNode | None:
        names = [m["name"] for m in self.members() if m["role"] == "sync_standby" and m["state"] == "streaming"]
        return self._node(names[0]) if names else None

    def streaming(self) -> int:
        return sum(1 for m in self.members() if m["role"] in ("replica", "sync_standby") and m["state"] == "streaming")

    def role_of(self, node: PatroniNode) -> str | None:
        return next((m["role"] for m in self.members() if m["name"] == node.name), None)

    def wait_for(self, condition, timeout: float, what: str, step: float = 0.1) -> float:
        """Poll ``condition`` until true; the monotonic time it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic()
            time.sleep(step)
        raise SystemExit(f"patroni cluster: timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        lines = [f"members: {self.members()}"]
        for node in self.nodes:
            with contextlib.suppress(OSError):
                lines.append(
                    f"--- {node.name} patroni.log (tail)\n" + "\n".join(node.log.read_text().splitlines()[-15:])
                )
        return "\n".join(lines)

    def sql(self, node: PatroniNode, statement: str, dbname: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(host=HOST, port=node.pg_port, user="postgres", dbname=dbname, autocommit=True,
                             connect_timeout=3) as connection:  # fmt: skip
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []
