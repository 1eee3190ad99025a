"""Load test of the judging app: many simulated judges submit verdicts concurrently to a real uvicorn
server; afterwards every verdict must be stored exactly once, also after a server restart.

Run: ``python tests/loadtest.py [--judges 30] [--verdicts 3000] [--dir PATH | --db URL]``; it prints one JSON
line with the counts and the latency percentiles (ms, measured by the clients per request). The
server runs in a subprocess so that client and server do not share one interpreter lock.

Test tooling, not part of the package: ``tests/test_web_load.py`` runs the load test (marker ``load``),
``tests/test_web_browser.py`` uses :func:`start_server`, and the study tests use :func:`synthetic_maps`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.store.engine import make_engine, session_factory
from fcmatch.store.schema import init_db
from fcmatch.store.study_tables import Assignment, Verdict
from fcmatch.study.create import StudyConfig, create_study, invite_judge

_SERVER = (
    "import os, uvicorn\n"
    "from fcmatch.web.app import create_app\n"
    "uvicorn.run(create_app(os.environ['FCMATCH_LOAD_DB'], admin_token=os.environ['FCMATCH_LOAD_ADMIN']), host='127.0.0.1',"
    " port=int(os.environ['FCMATCH_LOAD_PORT']), log_level='warning',"
    " timeout_keep_alive=120, access_log=False)\n"
)


def synthetic_maps(n_sentences: int, n_labelers: int, seed: int = 0) -> list[CausalMap]:
    """Random small maps: ``n_labelers`` per sentence, 1-4 edges each over 6 concepts."""
    rng = np.random.default_rng(seed)
    maps = []
    for s in range(n_sentences):
        concepts = [f"concept {s}.{k}" for k in range(6)]
        for lab in range(n_labelers):
            edges = []
            for _ in range(int(rng.integers(1, 5))):
                a, b = rng.choice(6, size=2, replace=False)
                edges.append(Edge(concepts[a], concepts[b], int(rng.choice([1, -1]))))
            maps.append(CausalMap(f"Sentence {s}: how {concepts[0]} drives {concepts[1]}.", edges, f"labeler{lab}"))
    return maps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db_url: str, admin_token: str = "load-test-admin-token", timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start uvicorn on 127.0.0.1 in a subprocess; returns (process, base URL) once /healthz answers.

    Raises:
        RuntimeError: the server did not come up within ``timeout`` seconds.
    """
    port = _free_port()
    env = {**os.environ, "FCMATCH_LOAD_DB": db_url, "FCMATCH_LOAD_PORT": str(port), "FCMATCH_LOAD_ADMIN": admin_token}
    proc = subprocess.Popen([sys.executable, "-c", _SERVER], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not answer on {base} within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _post(client: httpx.AsyncClient, url: str, form: dict, tries: int = 3) -> httpx.Response:
    # a dropped connection is retried: safe, because a verdict posted twice is stored once
    for attempt in range(tries):
        try:
            return await client.post(url, data=form)
        except httpx.TransportError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


async def _judge(client: httpx.AsyncClient, token: str, n: int, double_every: int, latencies: list[float]) -> int:
    """One judge: fetch the first pair, then post verdicts; each answer carries the next pair."""
    sent = 0
    rng = np.random.default_rng(int.from_bytes(token.encode()[:8], "little"))
    t0 = time.perf_counter()
    nxt = (await client.get(f"/j/{token}/next")).raise_for_status().json()
    latencies.append(time.perf_counter() - t0)
    for k in range(n):
        if nxt["assignment"] is None:
            break
        verdict = ("A", "B", "tie")[int(rng.integers(3))]
        form = {"assignment": nxt["assignment"], "verdict": verdict, "csrf": nxt["csrf"]}
        # every ``double_every``-th verdict is posted twice at once, like a double click
        copies = 2 if double_every and k % double_every == 0 else 1
        t0 = time.perf_counter()
        answers = await asyncio.gather(*(_post(client, f"/j/{token}/verdict", form) for _ in range(copies)))
        latencies.append(time.perf_counter() - t0)
        for answer in answers:
            answer.raise_for_status()
        nxt = answers[0].json()["next"]
        sent += 1
    return sent


async def _drive(base: str, tokens: list[str], per_judge: int, double_every: int, deadline_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=len(tokens) * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits, headers={"Accept": "application/json"}) as client:
        t0 = time.perf_counter()
        sent = await asyncio.wait_for(
            asyncio.gather(*(_judge(client, t, per_judge, double_every, latencies) for t in tokens)), deadline_s
        )
        wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {
        "submitted": int(sum(sent)),
        "requests": len(latencies),
        "wall_s": round(wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def stored_counts(db_url: str) -> dict[str, int]:
    """Verdicts stored and distinct assignments they answer (equal unless something duplicated)."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            n = session.scalar(select(func.count(Verdict.id)))
            distinct = session.scalar(select(func.count(func.distinct(Verdict.assignment_id))))
            assigned = session.scalar(select(func.count(Assignment.id)))
    finally:
        engine.dispose()
    return {"stored": int(n), "distinct": int(distinct), "assignments": int(assigned)}


def run_load_test(
    folder: str | os.PathLike, judges: int = 30, verdicts: int = 3000, double_every: int = 10, deadline_s: float = 300,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Create a study, start a server, let ``judges`` clients submit ``verdicts`` in all, then restart and count.

    Args:
        folder: where the SQLite file goes (unless ``db_url`` names another database).
        judges: concurrent simulated judges.
        verdicts: total verdicts (split evenly; must divide by ``judges``).
        double_every: every n-th verdict of a judge is posted twice concurrently (0: never).
        deadline_s: the clients give up after this many seconds (the test is bounded).
        db_url: an empty database to use instead (e.g. PostgreSQL); default an SQLite file in ``folder``.

    Returns:
        Latency figures of :func:`_drive` plus ``stored``/``distinct`` before and ``after_restart``.
    """
    if verdicts % judges:
        raise ValueError(f"--verdicts ({verdicts}) must be a multiple of --judges ({judges})")
    per_judge = verdicts // judges
    db_url = db_url or f"sqlite:///{Path(folder) / 'load.sqlite'}"
    engine = make_engine(db_url)
    init_db(engine)
    with session_factory(engine).begin() as session:
        study = create_study(
            session, synthetic_maps(16, 6), StudyConfig("load", per_judge=per_judge, n_repeats=5, n_common=5)
        )
        tokens = [invite_judge(session, study, f"judge{k:02d}")[1] for k in range(judges)]
    engine.dispose()
    proc, base = start_server(db_url)
    try:
        result = asyncio.run(_drive(base, tokens, per_judge, double_every, deadline_s))
    finally:
        stop_server(proc)
    result.update(stored_counts(db_url))
    # a new app on the same file (the server above is gone) must see every verdict
    from fastapi.testclient import TestClient

    from fcmatch.web.app import create_app

    app = create_app(db_url, admin_token="load-test-admin-token")
    try:
        export = TestClient(app).get("/admin/studies/1/export.jsonl", headers={"Authorization": "Bearer load-test-admin-token"})
        result["after_restart"] = len(export.raise_for_status().text.splitlines())
    finally:
        app.state.engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", type=int, default=30)
    parser.add_argument("--verdicts", type=int, default=3000)
    parser.add_argument("--dir", default=None, help="folder for the database (default: a temporary one)")
    parser.add_argument("--db", default=None, help="an empty database's SQLAlchemy URL instead of an SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_load_test(args.dir or tmp, args.judges, args.verdicts, db_url=args.db)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
