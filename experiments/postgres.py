"""A throwaway PostgreSQL server on 127.0.0.1, for multi-worker benchmarks and tests.

The server comes from the Debian package ``postgresql`` (``/usr/lib/postgresql/*/bin``); it lives
in a temporary folder that is removed when the context exits.

    from experiments.postgres import postgres_server
    with postgres_server() as url:      # postgresql://postgres@127.0.0.1:PORT/ntk
        ...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

INSTALL_HINT = "install the Debian package postgresql (.ci/run does: apt-get install postgresql)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says how to install one."""


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Starts a server in a temporary folder and yields its URL; stops and removes it on exit.

    As root (CI), the server runs as the ``postgres`` system user, since PostgreSQL refuses root.

    Yields:
      ``postgresql://postgres@127.0.0.1:PORT/ntk``, a database that trusts local connections.

    Raises:
      PostgresUnavailable: no server binaries, or running as root without a ``postgres`` user.
    """
    bin_dir = _binaries()
    if bin_dir is None:
        raise PostgresUnavailable(f"no PostgreSQL server binaries: {INSTALL_HINT}")
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                f"running as root and no 'postgres' user: {INSTALL_HINT}"
            ) from None
        prefix = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="ntk-nas-pg-", dir="/tmp"))
    data, port = folder / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    try:
        if owner is not None:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        log = str(folder / "log")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", log, "-o", options, "-w", "start")
        try:
            address = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
            run(str(bin_dir / "createdb"), *address, "ntk")
            yield f"postgresql://postgres@127.0.0.1:{port}/ntk"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
