"""A throwaway PostgreSQL cluster for the tests: the storage, API and load tests run against it as well
as against SQLite, with the same assertions.

Test tooling, not part of the package (like ``loadtest.py``). The first call of :func:`database_url`
runs Debian's ``initdb`` and ``pg_ctl`` (``make install-postgres`` installs them) in a temporary folder;
as root they run as the ``postgres`` user (PostgreSQL refuses to run as root). The server listens on a
Unix socket in that folder only (no TCP port), trusts local connections and runs with ``fsync=off``
(a test cluster needs no durability; the SQLite tests check that). It is stopped and removed when the
test process exits. Each :func:`database_url` is a new, empty database.

    url = database_url()  # postgresql+psycopg://postgres@/fcmatch_1?host=/tmp/fcpg-xxxx
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_cluster: dict[str, str] = {}
_names = itertools.count(1)


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _run_as(user: str | None, argv: list[str]) -> None:
    command = ["runuser", "-u", user, "--", *argv] if user else argv
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")


def _start() -> str:
    """Start the cluster; returns its socket folder. Raises RuntimeError when it cannot start."""
    bindir = _bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (make install-postgres)")
    user = None
    root = Path(tempfile.mkdtemp(prefix="fcpg-"))  # short: a socket path must stay under 107 bytes
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root, and there is no postgres user to run PostgreSQL as") from None
        user = "postgres"
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    _run_as(user, [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync", "--locale=C"])
    options = f"-k {root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c max_connections=200"
    _run_as(user, [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"])

    def stop() -> None:
        subprocess.run((["runuser", "-u", user, "--"] if user else []) +
                       [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return str(root)


def database_url() -> str:
    """A new empty database on the test cluster (started on first use), as a SQLAlchemy URL.

    Skips the calling test, with the reason, when PostgreSQL or psycopg is not installed.
    """
    pytest.importorskip("psycopg", reason="psycopg is not installed (make install-postgres)")
    import psycopg

    if "error" in _cluster:
        pytest.skip(_cluster["error"])
    if "socket" not in _cluster:
        try:
            _cluster["socket"] = _start()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            _cluster["error"] = f"no PostgreSQL test cluster: {err}"
            pytest.skip(_cluster["error"])
    name = f"fcmatch_{os.getpid()}_{next(_names)}"
    with psycopg.connect(host=_cluster["socket"], user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@/{name}?host={_cluster['socket']}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs twice: on an SQLite file and on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return database_url()
