"""The app's database layer: versioned schema migrations (an older database opens with this fcmatch),
SQLite settings, and the shared map columns; the database tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

import pg
from fcmatch.data.causal_map import Edge
from fcmatch.store import open_sessions
from fcmatch.store.annotation_tables import Prediction
from fcmatch.store.engine import make_engine
from fcmatch.store.schema import MIGRATIONS, Migration, init_db, register_migrations, schema_versions
from fcmatch.store.study_tables import Item
from fcmatch.store.tokens import hash_token, new_token

any_db_url = pg.any_db_url  # the fixture: each test that takes it runs on SQLite and on PostgreSQL


def test_schema_migrations_run_once_in_order(any_db_url: str):
    engine = make_engine(any_db_url)
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
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(ValueError, match="numbered"):
            register_migrations("webtest", [Migration(2, "gap")])
    finally:
        MIGRATIONS.pop("webtest", None)
        engine.dispose()


def test_open_sessions_creates_every_component(tmp_path: Path, any_db_url: str):
    from sqlalchemy import inspect

    url = any_db_url.replace("app.sqlite", "sub/o.sqlite")  # SQLite: its folder is made
    sessions = open_sessions(url)
    engine = sessions.kw["bind"]
    try:
        assert {"judge", "annotate", "app"} <= set(schema_versions(engine))
        assert {"study_item", "annotate_prediction", "app_setting", "app_admin_session"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


# what the first released schema lacked: (table, column) added by version 2 of each component
ADDED_IN_V2 = [("study_sentence", "source_id"), ("study", "notes_json"), ("study_judge", "revoked"),
               ("annotate_annotator", "revoked"), ("study_verdict", "flagged")]  # flagged: judge v3


def _downgrade_to_v1(engine) -> None:
    """Turn a current database into one as the first schema left it (data kept where the columns were)."""
    with engine.begin() as conn:
        for table, column in ADDED_IN_V2:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.exec_driver_sql("DROP TABLE app_admin_session")
        conn.exec_driver_sql("UPDATE schema_version SET version = 1")
        conn.exec_driver_sql("DELETE FROM schema_version WHERE component = 'app'")


def _study_with_one_verdict(url: str, verdict: str, comment: str = ""):
    """A study of 3 sentences with one judge ("ann") and one verdict; returns the engine and ann's token."""
    from fcmatch.study.assignment import current_assignment, record_verdict
    from fcmatch.study.create import StudyConfig, create_study, invite_judge
    from loadtest import synthetic_maps

    sessions = open_sessions(url)
    with sessions.begin() as session:
        study = create_study(session, synthetic_maps(3, 3), StudyConfig("old", per_judge=3))
        judge, token = invite_judge(session, study, "ann")
        record_verdict(session, judge, current_assignment(session, judge).id, verdict, comment)
    return sessions.kw["bind"], token


def test_an_older_database_opens_with_this_fcmatch(any_db_url: str):
    from sqlalchemy import inspect

    from fcmatch.study.create import judge_by_token
    from fcmatch.study.export import export_records, study_judgements

    engine, token = _study_with_one_verdict(any_db_url, "A")
    _downgrade_to_v1(engine)
    assert "source_id" not in {c["name"] for c in inspect(engine).get_columns("study_sentence")}
    engine.dispose()

    sessions = open_sessions(any_db_url)  # runs the pending upgrades
    engine = sessions.kw["bind"]
    try:
        assert schema_versions(engine) == {"annotate": 2, "app": 1, "judge": 3}
        with sessions.begin() as session:
            judge = judge_by_token(session, token)  # the link still works: not revoked
            assert judge is not None and judge.revoked is False
            (record,) = export_records(session, judge.study)
            assert record["a"].split("/")[0] in {"0", "1", "2"}  # ids stay the positions it was exported with
            assert judge.study.notes() == [] and [s.source_id for s in judge.study.sentences] == ["0", "1", "2"]
            assert len(study_judgements(session, judge.study).judgements) == 1
        with engine.begin() as conn:  # a database newer than this fcmatch is refused, not damaged
            conn.exec_driver_sql("UPDATE schema_version SET version = 99 WHERE component = 'judge'")
        with pytest.raises(RuntimeError, match="newer than this fcmatch"):
            init_db(engine)
    finally:
        engine.dispose()


def test_a_database_from_before_the_flag_opens_and_keeps_its_verdicts(any_db_url: str):
    from sqlalchemy import inspect

    from fcmatch.study.assignment import current_assignment, progress, record_verdict
    from fcmatch.study.create import judge_by_token
    from fcmatch.study.export import export_records

    engine, token = _study_with_one_verdict(any_db_url, "B", "kept")
    with engine.begin() as conn:  # judge schema v2: verdicts had no flag column
        conn.exec_driver_sql("ALTER TABLE study_verdict DROP COLUMN flagged")
        conn.exec_driver_sql("UPDATE schema_version SET version = 2 WHERE component = 'judge'")
    engine.dispose()

    sessions = open_sessions(any_db_url)
    engine = sessions.kw["bind"]
    try:
        assert schema_versions(engine)["judge"] == 3
        assert "flagged" in {c["name"] for c in inspect(engine).get_columns("study_verdict")}
        with sessions.begin() as session:
            judge = judge_by_token(session, token)
            (record,) = export_records(session, judge.study)
            assert (record["verdict"], record["flagged"], record["comment"]) == ("B", False, "kept")
            second = current_assignment(session, judge)
            assert record_verdict(session, judge, second.id, "skip", flagged=True).flagged is True
            assert progress(session, judge).done == 2
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
