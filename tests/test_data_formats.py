"""Readers and writers of the three causal-map formats; errors name file and line; real data counts."""

import csv
import json

import pytest

from fcmatch.data import CausalMap, Edge, FormatError, read_maps, write_maps
from fcmatch.data.formats import detect_format, read_claims_csv

HEADER = ["ID", "Causal claim", "Independent variable (coded)", "Dependent variable (coded)", "Relationship", "sentence_id", "source"]


def _csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_claims_csv_groups_rows_drops_duplicates_keeps_source(tmp_path):
    path = _csv(tmp_path / "c.csv", [
        [0, "Rain raises runoff and lowers infiltration.", "rain", "runoff", "Positive", 0, ""],
        [1, "Rain raises runoff and lowers infiltration.", " rain ", "runoff", "Positive", 0, "habitus"],
        [2, "Rain raises runoff and lowers infiltration.", "rain", "infiltration", "Negative", 0, "habitus"],
        [3, "Prices fall.", "supply", "prices", "Negative", 1, "osw"],
    ])
    maps = read_claims_csv(path)
    assert [m.text for m in maps] == ["Rain raises runoff and lowers infiltration.", "Prices fall."]
    first = maps[0]
    assert first.edges == [Edge("rain", "runoff", 1), Edge("rain", "infiltration", -1)]
    assert first.source == "habitus"  # the first non-empty source
    assert first.meta == {"rows": 3, "duplicates_dropped": 1}


def test_csv_errors_name_file_and_line(tmp_path):
    path = _csv(tmp_path / "bad.csv", [[0, "s", "a", "b", "Positive", 0, ""], [1, "s", "a", "c", "sideways", 0, ""]])
    with pytest.raises(FormatError, match=r"bad\.csv:3.*'sideways'"):
        read_maps(path)
    missing = tmp_path / "cols.csv"
    missing.write_text("text,cause\nx,y\n")
    with pytest.raises(FormatError, match=r"cols\.csv:1: missing column"):
        read_maps(missing)


def test_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "maps.jsonl"
    path.write_text('{"text": "a", "edges": []}\n\n{"text": "b", "edges": [{"cause": "x"\n')
    with pytest.raises(FormatError, match=r"maps\.jsonl:3: not valid JSON"):
        read_maps(path)
    path.write_text('{"text": "a", "edges": [{"cause": "x", "effect": "y", "sign": "up"}]}\n')
    with pytest.raises(FormatError, match=r"maps\.jsonl:1 edge 0.*'up'"):
        read_maps(path)
    path.write_text('{"edges": []}\n')
    with pytest.raises(FormatError, match=r"maps\.jsonl:1: expected an object with a 'text'"):
        read_maps(path)


def test_match_json_reports_garbage_direction_without_crashing(tmp_path):
    path = tmp_path / "mistral.json"
    path.write_text(json.dumps([{
        "text": "Drought reduces yield.",
        "causal relations": [{"src": "drought", "tgt": "yield", "direction": "Decrease"},
                             {"src": "x", "tgt": "y", "direction": "tokens."}],
        "meta_data": {"labeler": "mistral"},
    }]))
    (cmap,) = read_maps(path)
    assert cmap.edges == [Edge("drought", "yield", -1)] and cmap.source == "mistral"
    assert "'tokens.'" in cmap.meta["problems"][0] and "record 0 relation 1" in cmap.meta["problems"][0]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_every_format_round_trips(tmp_path, suffix):
    maps = [
        CausalMap("Fire, \"grazing\" and rain -> growth.", [Edge("fire", "growth", -1), Edge("rain", "growth", 1)], "ecology"),
        CausalMap("No claim here.", [], "ecology"),
    ]
    path = tmp_path / f"out{suffix}"
    write_maps(maps, path)
    back = read_maps(path)
    assert [(m.text, m.edges) for m in back] == [(m.text, m.edges) for m in maps]
    assert detect_format(path) == {".jsonl": "jsonl", ".csv": "csv", ".json": "match"}[suffix]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "keep.jsonl"
    write_maps([CausalMap("old", [])], path)

    class Boom(CausalMap):
        def to_dict(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_maps([CausalMap("new", []), Boom("x")], path)
    assert [m.text for m in read_maps(path)] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]  # no temporary left behind


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_maps(tmp_path / "nope.csv")


@pytest.mark.shared
def test_real_causal_train_split_counts(shared_data):
    maps = read_maps(shared_data / "causal" / "train_data.csv")
    assert len(maps) == 1497
    assert sum(m.meta["rows"] for m in maps) == 3384
    dropped = sum(m.meta["duplicates_dropped"] for m in maps)
    assert sum(len(m.edges) for m in maps) == 3384 - dropped
    assert dropped > 0


@pytest.mark.shared
def test_real_match_annotations_load(shared_data):
    folder = shared_data / "match" / "annotations"
    maps = {p.stem: read_maps(p) for p in sorted(folder.glob("*.json"))}
    assert len(maps) == 10 and all(len(v) == 10 for v in maps.values())
    problems = [p for v in maps.values() for m in v for p in m.meta["problems"]]
    assert len(problems) == 1 and "tokens." in problems[0]


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        write_maps([CausalMap("s", [])], tmp_path / "m.jsonl")
    finally:
        os.umask(old)
    assert (tmp_path / "m.jsonl").stat().st_mode & 0o777 == 0o644
