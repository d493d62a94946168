"""Private PostgreSQL and Redis servers that a chaos run owns, so it may stop and restart them.

A machine's own PostgreSQL and Redis serve other users (other test runs, other servers); a chaos
benchmark must never restart those. :class:`PrivatePostgres` makes a throwaway cluster with the
machine's PostgreSQL programs (``initdb``/``pg_ctl``, found on ``PATH`` or under
``/usr/lib/postgresql/<version>/bin``) in a folder of its own, on a free loopback port, with trust
authentication; as root the programs run as the ``postgres`` user (``initdb`` refuses root).
:class:`PrivateRedis` runs ``redis-server`` on a free loopback port without persistence (a
restarted Redis comes back empty, as a cache does). Both restart on the same port, so the URLs
handed to the server stay valid, and are removed with their data by :meth:`close`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from novel_engine.errors import ConfigError

__all__ = ["PrivatePostgres", "PrivateRedis", "free_port", "wait_port"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, up: bool, timeout_s: float = 30.0) -> bool:
    """Wait until something listens on loopback ``port`` (``up``) or nothing does; whether it happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                listening = True
        except OSError:
            listening = False
        if listening == up:
            return True
        time.sleep(0.05)
    return False


def _pg_program(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise ConfigError(
            f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql); a chaos run starts "
            "a private PostgreSQL to restart, or give --database-url with --postgres-restart",
            setting="database_url",
        )
    return found


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (see the module docstring).

    Args:
        folder: where its data and socket go (a new temporary folder if None; removed by :meth:`close`).
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="novel-engine-chaos-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            import pwd

            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ConfigError(
                    "running as root, but there is no postgres user to run a private PostgreSQL as",
                    setting="database_url",
                ) from None
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        proc = subprocess.run([*self._user, *argv], capture_output=True, text=True, check=False, cwd=self.folder)
        if proc.returncode != 0:
            raise ConfigError(
                f"private PostgreSQL: `{' '.join(argv[:2])}` failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout)[-1500:]}",
                setting="database_url",
            )

    def start(self) -> PrivatePostgres:
        """Create the cluster on first use, start it and wait until it accepts connections."""
        if not self.data.exists():
            initdb = _pg_program("initdb")
            self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = str(self.folder / "postgres.log")
        self._run(_pg_program("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions and close connections, as
        ``pg_ctlcluster ... restart`` does; ``immediate``: as a crash)."""
        self._run(_pg_program("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        """Stop the server (if running) and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ConfigError):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` of its own on a free loopback port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        """Start it and wait until it listens."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise ConfigError(
                "redis-server is not installed (Debian: apt-get install redis-server); a chaos run starts a "
                "private Redis to restart, or give --redis-url with --redis-restart",
                setting="redis_url",
            )
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, up=True):
            self.close()
            raise ConfigError(f"private redis-server did not listen on port {self.port}", setting="redis_url")
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM) and wait for it to exit."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port (empty)."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        """Stop it."""
        self.stop()
