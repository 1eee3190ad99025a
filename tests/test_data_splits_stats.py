"""Splits keep sentences apart; stats count what the issue asks for; the data CLI writes what it says."""

import json

import pytest

from fcmatch.cli import main
from fcmatch.data import CausalMap, Edge, read_maps, write_maps
from fcmatch.data.splits import split_by_sentence, split_by_source
from fcmatch.data.stats import dataset_stats


def _maps(n=20):
    maps = [CausalMap(f"sentence {i}", [Edge(f"a{i}", f"b{i}", 1 if i % 3 else -1)] * (i % 4), f"src{i % 2}") for i in range(n)]
    maps.append(CausalMap("sentence 0", [Edge("x", "y", 1)], "src0", {"labeler": "second"}))
    for m in maps:
        m.dedupe()
    return maps


def test_split_by_sentence_is_seeded_and_never_shares_a_sentence():
    maps = _maps()
    train, val = split_by_sentence(maps, (0.75, 0.25), seed=3)
    assert not {m.text for m in train} & {m.text for m in val}
    assert len(train) + len(val) == len(maps)
    assert len({m.text for m in val}) == 5
    again = split_by_sentence(maps, (0.75, 0.25), seed=3)
    assert [m.text for m in again[1]] == [m.text for m in val]
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_sentence(maps, (0.5, 0.2))


def test_split_by_source_rejects_unknown_sources():
    inside, outside = split_by_source(_maps(), ["src1"])
    assert {m.source for m in outside} == {"src1"} and "src1" not in {m.source for m in inside}
    with pytest.raises(ValueError, match="srcX"):
        split_by_source(_maps(), ["srcX"])


def test_stats_hand_counted():
    maps = [
        CausalMap("s1", [Edge("a", "b", 1), Edge("b", "c", -1)], "x"),
        CausalMap("s2", [], "y"),
        CausalMap("s3", [Edge("a", "b", 1)], ""),
    ]
    stats = dataset_stats(maps)
    assert (stats["sentences"], stats["edges"], stats["positive"], stats["negative"]) == (3, 3, 2, 1)
    assert stats["edges_per_sentence"] == {"0": 1, "1": 1, "2": 1}
    assert stats["sources"] == {"x": 1, "y": 1, "(none)": 1}


def test_data_cli_stats_convert_split(tmp_path, capsys):
    src = tmp_path / "maps.jsonl"
    write_maps(_maps(), src)
    assert main(["data", "stats", str(src), "--json", "--no-tokens"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sentences"] == 20 and isinstance(stats["edges"], int)
    assert main(["data", "convert", str(src), str(tmp_path / "maps.csv")]) == 0
    assert len(read_maps(tmp_path / "maps.csv")) == 20  # the CSV groups the two labelers of "sentence 0"
    assert main(["data", "split", str(src), "--fractions", "0.8", "0.2", "--out-dir", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["split.config.yaml", "train.jsonl", "val.jsonl"]
    saved = (tmp_path / "s" / "split.config.yaml").read_text()
    assert "SplitConfig" in saved and "fractions:\n- 0.8\n- 0.2" in saved
    assert main(["data", "split", str(src), "--by", "source", "--test-sources", "nope"]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.shared
def test_stats_on_real_train_split(shared_data, capsys):
    assert main(["data", "stats", str(shared_data / "causal" / "train_data.csv"), "--json", "--no-tokens"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sentences"] == 1497
    assert stats["positive"] + stats["negative"] == stats["edges"] < 3384
