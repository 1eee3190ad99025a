"""Load test: 30 concurrent simulated judges post 3,000 verdicts to a real uvicorn server on 127.0.0.1,
once on an SQLite file and once on PostgreSQL (tests/pg.py).

Every tenth verdict is posted twice at once (a double click); afterwards exactly 3,000 verdicts must
be stored, one per assignment, and a new app on the same database must export all of them.
The server's latency percentiles are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import json

import pytest

from loadtest import run_load_test
from pg import database_url


@pytest.mark.load
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_3000_verdicts_from_30_judges(tmp_path, capsys, backend):
    db_url = database_url() if backend == "postgresql" else None
    result = run_load_test(tmp_path, judges=30, verdicts=3000, double_every=10, deadline_s=540, db_url=db_url)
    with capsys.disabled():
        print(f"\nweb load test ({backend}): {json.dumps(result)}")
        print(f"web load test p95 latency: {result['p95_ms']} ms (p50 {result['p50_ms']} ms, {result['wall_s']} s wall)")
    assert result["submitted"] == 3000
    assert result["stored"] == result["distinct"] == result["assignments"] == 3000
    assert result["after_restart"] == 3000
