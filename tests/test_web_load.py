"""Load test: 30 concurrent simulated judges post 3,000 verdicts to a real uvicorn server on 127.0.0.1.

Every tenth verdict is posted twice at once (a double click); afterwards exactly 3,000 verdicts must
be stored, one per assignment, and a new app on the same database file must export all of them.
The server's latency percentiles are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import json

import pytest

from loadtest import run_load_test


@pytest.mark.load
@pytest.mark.timeout(600)
def test_3000_verdicts_from_30_judges(tmp_path, capsys):
    result = run_load_test(tmp_path, judges=30, verdicts=3000, double_every=10, deadline_s=540)
    with capsys.disabled():
        print(f"\nweb load test: {json.dumps(result)}")
        print(f"web load test p95 latency: {result['p95_ms']} ms (p50 {result['p50_ms']} ms, {result['wall_s']} s wall)")
    assert result["submitted"] == 3000
    assert result["stored"] == result["distinct"] == result["assignments"] == 3000
    assert result["after_restart"] == 3000
