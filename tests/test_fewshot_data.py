"""Sign-classification records, the study's splits and balanced sampling."""

from pathlib import Path

import pytest

from fcmatch.fewshot.data import (
    ClassRecord,
    balanced_sample,
    draw_train_dev,
    flipped,
    sign_records,
    sign_splits,
)

REAL = Path(__file__).parents[2] / "shared" / "data" / "causal"

CSV = (
    "ID,Causal claim,Independent variable (coded),Dependent variable (coded),Relationship,sentence_id,source\n"
    '0," Rain raises yields. ",rain ,yields,Positive,0,ronak_patel_csv\n'
    "1,Rain raises yields.,rain,yields,Positive,0,ronak_patel_csv\n"
    "2,Drought cuts yields.,drought,yields,Negative,1,habitus\n"
    "3,A sentence without a claim.,,,,2,habitus\n"
)


def test_sign_records_dedupes_strips_and_labels(tmp_path):
    (tmp_path / "train_data.csv").write_text(CSV)
    records = sign_records(tmp_path)
    assert [(r.text1, r.text2, r.label) for r in records] == [
        ("Rain raises yields.", "rain increases yields.", "yes"),
        ("Drought cuts yields.", "drought increases yields.", "no"),
    ]
    assert records[1].meta["source"] == "habitus" and records[1].meta["sign"] == "-"
    assert records[0].meta["sentence_id"] == "0" and records[0].meta["split"] == "train"


def test_sign_records_bad_sign_names_file_and_line(tmp_path):
    (tmp_path / "train_data.csv").write_text(CSV.replace("Negative", "Sideways"))
    with pytest.raises(ValueError, match=r"train_data.csv:4"):
        sign_records(tmp_path)


def test_demo_splits_are_disjoint_and_flip_is_the_same_edges():
    splits = sign_splits()
    assert set(splits) == {"train", "dev_pool", "test_id", "test_ood", "test_flip"}
    train_sources = {r.meta["source"] for r in splits["train"]}
    assert not train_sources & {r.meta["source"] for r in splits["test_ood"]}
    assert not {r.text1 for r in splits["train"]} & {r.text1 for r in splits["test_id"]}
    for a, b in zip(splits["test_id"], splits["test_flip"], strict=True):
        assert a.text1 == b.text1 and a.label != b.label and "decreases" in b.text2


def test_balanced_sample_is_balanced_shuffled_and_deterministic():
    pool = [ClassRecord(f"t{i}", None, "yes" if i % 3 else "no") for i in range(60)]
    a, b, c = balanced_sample(pool, 8, 0), balanced_sample(pool, 8, 0), balanced_sample(pool, 8, 1)
    assert a == b and a != c
    assert sorted(r.label for r in a) == ["no"] * 4 + ["yes"] * 4
    assert [r.label for r in a] != sorted(r.label for r in a) or [r.label for r in c] != sorted(r.label for r in c)
    with pytest.raises(ValueError, match="multiple"):
        balanced_sample(pool, 7, 0)
    train, dev = draw_train_dev(pool, 8, 3)
    assert len(dev) == 8 and not {id(r) for r in train} & {id(r) for r in dev}


def test_flipped_swaps_labels():
    (r,) = flipped([ClassRecord("s", "a increases b.", "yes", {"cause": "a", "effect": "b"})])
    assert (r.text2, r.label) == ("a decreases b.", "no")


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/causal not present")
def test_real_splits_sizes():
    splits = sign_splits(REAL, test_cap=250)
    assert all(r.meta["source"] == "ronak_patel_csv" for r in splits["train"])
    assert len(splits["test_id"]) == len(splits["test_ood"]) == 250
    assert all(r.meta["source"] != "ronak_patel_csv" for r in splits["test_ood"])
