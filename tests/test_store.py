"""The app's database layer: versioned schema migrations, SQLite settings, and the shared map columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcmatch.data.causal_map import Edge
from fcmatch.store import open_sessions
from fcmatch.store.annotation_tables import Prediction
from fcmatch.store.engine import make_engine
from fcmatch.store.schema import MIGRATIONS, Migration, init_db, register_migrations, schema_versions
from fcmatch.store.study_tables import Item
from fcmatch.store.tokens import hash_token, new_token


def test_schema_migrations_run_once_in_order(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    engine = make_engine(url)
    register_migrations("webtest", [Migration(1, "initial")])
    try:
        init_db(engine)
        assert schema_versions(engine)["webtest"] == 1 and schema_versions(engine)["judge"] >= 1
        calls = []

        def add_column(conn):
            calls.append(2)
            conn.exec_driver_sql("ALTER TABLE study ADD COLUMN webtest_note TEXT")

        register_migrations("webtest", [Migration(1, "initial"), Migration(2, "add a column", add_column)])
        init_db(engine)
        init_db(engine)  # nothing left to do the second time
        assert calls == [2] and schema_versions(engine)["webtest"] == 2
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(ValueError, match="numbered"):
            register_migrations("webtest", [Migration(2, "gap")])
    finally:
        MIGRATIONS.pop("webtest", None)
        engine.dispose()


def test_open_sessions_creates_every_component(tmp_path: Path):
    from sqlalchemy import inspect

    sessions = open_sessions(f"sqlite:///{tmp_path / 'sub' / 'o.sqlite'}")
    engine = sessions.kw["bind"]
    try:
        assert {"judge", "annotate"} <= set(schema_versions(engine))
        assert {"study_item", "annotate_prediction", "app_setting"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_stored_maps_round_trip_their_edges():
    edges = [Edge("Regen", "Ernte", 1), Edge("Hitze", "Ernte", -1)]
    for row in (Item(labeler="ann"), Prediction(model="tiny")):
        row.set_edges(edges)
        assert row.edges() == edges
        assert "Ernte" in row.edges_json  # stored as text, not ASCII escapes


def test_token_hashes_are_stable_and_tokens_fresh():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert new_token() != new_token() and len(new_token()) == 32
