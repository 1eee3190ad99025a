"""Instruction files: Alpaca, Dolly and chat round-trip and name file, record and field in every error;
splits are seeded, keep prompts apart and keep category shares; stats are hand-counted; the data CLI
handles them; the bundled set is what its README says."""

import json

import pytest

from fcmatch.cli import main
from fcmatch.data import FormatError, Instruction, read_instructions, write_instructions
from fcmatch.data.instructions import detect_instruction_format
from fcmatch.data.splits import split_instructions
from fcmatch.data.stats import instruction_stats, percentiles
from fcmatch.tasks.instruct import bundled

RECORDS = [
    Instruction("Define albedo.", "", "The share of sunlight a surface reflects.", "explain_term", "a1"),
    Instruction("Summarise the passage.", "Rain fell. Rivers rose.", "Rain raised the rivers.", "summarise", "a2"),
    Instruction("Name the causes.", "Fires grew with heat — and drought.", "Heat and drought.", "name_causes", ""),
]


@pytest.mark.parametrize("fmt, name", [("alpaca", "x.json"), ("dolly", "x.jsonl"), ("chat", "x.jsonl")])
def test_each_format_round_trips(tmp_path, fmt, name):
    records = RECORDS if fmt != "chat" else [*RECORDS[:1], Instruction("Hi?", "", "Hello.", system="Be brief.")]
    path = tmp_path / name
    write_instructions(records, path, fmt)
    assert detect_instruction_format(path) == fmt
    assert read_instructions(path) == records
    assert read_instructions(path, fmt) == records


def test_alpaca_file_layout_and_conversions(tmp_path):
    write_instructions(RECORDS, tmp_path / "a.json")  # .json means Alpaca
    data = json.loads((tmp_path / "a.json").read_text())
    assert data[0] == {"instruction": "Define albedo.", "input": "", "output": "The share of sunlight a surface reflects.",
                       "category": "explain_term", "id": "a1"}
    assert set(data[2]) == {"instruction", "input", "output", "category"}  # no empty id written
    write_instructions(read_instructions(tmp_path / "a.json"), tmp_path / "d.jsonl", "dolly")
    dolly = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert dolly[1] == {"instruction": "Summarise the passage.", "context": "Rain fell. Rivers rose.",
                        "response": "Rain raised the rivers.", "category": "summarise", "id": "a2"}
    assert read_instructions(tmp_path / "d.jsonl") == RECORDS
    write_instructions(RECORDS, tmp_path / "c.jsonl", "chat")
    chat = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[1])
    assert chat["messages"] == [{"role": "user", "content": "Summarise the passage.\n\nRain fell. Rivers rose."},
                                {"role": "assistant", "content": "Rain raised the rivers."}]
    assert read_instructions(tmp_path / "c.jsonl")[1] == Instruction(
        "Summarise the passage.\n\nRain fell. Rivers rose.", "", "Rain raised the rivers.", "summarise", "a2")


def test_real_layouts_are_read(tmp_path):
    alpaca = tmp_path / "alpaca_data.json"
    alpaca.write_text(json.dumps([{"instruction": "Give three tips.", "input": "", "output": "1. Eat well."},
                                  {"instruction": "Add.", "input": "2 and 3", "output": "5"}], indent=4))
    assert read_instructions(alpaca)[1] == Instruction("Add.", "2 and 3", "5")
    dolly = tmp_path / "databricks-dolly-15k.jsonl"
    dolly.write_text(json.dumps({"instruction": "When?", "context": "In 1998.", "response": "1998",
                                 "category": "closed_qa"}) + "\n\n")  # blank lines are skipped
    assert read_instructions(dolly) == [Instruction("When?", "In 1998.", "1998", "closed_qa")]
    jsonl_alpaca = tmp_path / "alpaca.jsonl"
    jsonl_alpaca.write_text(json.dumps({"instruction": "Add.", "output": "5"}) + "\n")  # input may be absent
    assert read_instructions(jsonl_alpaca) == [Instruction("Add.", "", "5")]


def test_causal_map_files_are_not_instruction_files(tmp_path):
    path = tmp_path / "maps.jsonl"
    path.write_text(json.dumps({"text": "Rain raises yields.", "edges": []}) + "\n")
    assert detect_instruction_format(path) is None
    assert detect_instruction_format(tmp_path / "x.csv") is None
    with pytest.raises(FormatError, match="maps.jsonl: not an instruction file"):
        read_instructions(path)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_instructions(tmp_path / "nope.json")


def _jsonl(tmp_path, *records):
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


GOOD_DOLLY = {"instruction": "Q", "context": "", "response": "A", "category": "open_qa"}
GOOD_CHAT = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}


@pytest.mark.parametrize("bad, message", [
    ({"instruction": "Q", "context": ""}, r"f.jsonl:2: missing field 'response'"),
    ({"instruction": "Q", "context": 3, "response": "A"}, r"f.jsonl:2: field 'context' must be a string, got int"),
    ({"instruction": "Q", "response": "  "}, r"f.jsonl:2: field 'response' is empty"),
    ({"instruction": "", "response": "A"}, r"f.jsonl:2: field 'instruction' is empty"),
    ({"instruction": "Q", "response": "A", "id": [1]}, r"f.jsonl:2: field 'id' must be a string or an integer"),
])
def test_dolly_errors_name_file_line_and_field(tmp_path, bad, message):
    with pytest.raises(FormatError, match=message):
        read_instructions(_jsonl(tmp_path, GOOD_DOLLY, bad), "dolly")


@pytest.mark.parametrize("messages, message", [
    ([{"role": "user", "content": "Q"}, {"role": "bot", "content": "A"}],
     r"f.jsonl:2 messages\[1\]: unknown role 'bot'; expected one of system, user, assistant"),
    ([{"role": "user", "content": "Q"}, {"content": "A"}], r"f.jsonl:2 messages\[1\]: missing field 'role'"),
    ([{"role": "user", "content": "Q"}, {"role": "assistant", "content": ""}],
     r"f.jsonl:2 messages\[1\]: field 'content' is empty"),
    ([{"role": "user", "content": "Q"}, {"role": "assistant", "content": 5}],
     r"f.jsonl:2 messages\[1\]: field 'content' must be a string, got int"),
    ([{"role": "user", "content": "Q"}], r"f.jsonl:2: field 'messages' must be .* got roles \['user'\]"),
    ([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}, {"role": "user", "content": "Q2"},
      {"role": "assistant", "content": "A2"}], r"f.jsonl:2: .*one user and one assistant message"),
    ([], r"f.jsonl:2: field 'messages' must be a non-empty list"),
    (["hi"], r"f.jsonl:2 messages\[0\]: expected an object with role and content, got str"),
])
def test_chat_errors_name_file_line_message_and_field(tmp_path, messages, message):
    with pytest.raises(FormatError, match=message):
        read_instructions(_jsonl(tmp_path, GOOD_CHAT, {"messages": messages}), "chat")


def test_alpaca_errors_name_file_record_and_field(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "Q", "input": "", "output": "A"}, {"instruction": "Q", "input": ""}]))
    with pytest.raises(FormatError, match=r"a.json record 1: missing field 'output'"):
        read_instructions(path)
    path.write_text(json.dumps([{"instruction": "Q", "input": None, "output": "A"}, ["Q", "A"]]))
    with pytest.raises(FormatError, match=r"a.json record 1: expected an object with instruction, input and output"):
        read_instructions(path, "alpaca")
    path.write_text('[{"instruction": "Q",\n "output": }]')
    with pytest.raises(FormatError, match=r"a.json:2: not valid JSON"):
        read_instructions(path, "alpaca")


def test_only_chat_holds_a_system_message_and_jsonl_needs_a_format(tmp_path):
    with pytest.raises(FormatError, match=r"x.json record 0: alpaca has no field for the chat's system message"):
        write_instructions([Instruction("Q", output="A", system="Be brief.")], tmp_path / "x.json")
    with pytest.raises(FormatError, match="name the instruction format"):
        write_instructions(RECORDS, tmp_path / "x.jsonl")
    assert not (tmp_path / "x.json").exists()


def _many():
    records = [Instruction(f"q{i}", "", f"a{i}", "big" if i < 30 else "small") for i in range(40)]
    return [*records, Instruction("q0", "", "another answer to q0", "big")]


def test_split_is_seeded_and_keeps_a_prompt_in_one_split():
    train, test = split_instructions(_many(), (0.8, 0.2), seed=1)
    assert len(train) + len(test) == 41
    assert not {r.instruction for r in train} & {r.instruction for r in test}  # both q0 records together
    assert split_instructions(_many(), (0.8, 0.2), seed=1) == [train, test]
    assert split_instructions(_many(), (0.8, 0.2), seed=2) != [train, test]
    assert [r.instruction for r in train] == [r.instruction for r in _many() if r in train]  # file order kept
    with pytest.raises(ValueError, match="sum to 1"):
        split_instructions(_many(), (0.8, 0.3))


def test_stratified_split_keeps_each_category_share():
    train, test = split_instructions(_many(), (0.8, 0.2), seed=0, stratify="category")
    # 30 distinct "big" prompts -> 6 to test, 10 "small" -> 2; unstratified, any mix could happen
    assert sum(r.category == "small" for r in test) == 2
    assert len({r.instruction for r in test if r.category == "big"}) == 6
    assert split_instructions(_many(), (0.8, 0.2), seed=0, stratify="category") == [train, test]


def test_percentiles_and_stats_hand_counted():
    assert percentiles([5, 1, 4, 2, 3]) == {"min": 1, "p50": 3, "p90": 5, "p95": 5, "max": 5, "mean": 3.0}
    assert percentiles(list(range(1, 21)))["p90"] == 18  # nearest rank: ceil(0.9 * 20) = 18th value
    stats = instruction_stats(RECORDS)
    assert (stats["records"], stats["with_input"], stats["distinct_prompts"]) == (3, 2, 3)
    assert stats["categories"] == {"explain_term": 1, "summarise": 1, "name_causes": 1}
    assert stats["words"]["instruction"] == {"min": 2, "p50": 3, "p90": 3, "p95": 3, "max": 3, "mean": 2.67}  # 2, 3, 3 words
    assert stats["words"]["input"]["max"] == 7  # "Fires grew with heat — and drought."
    assert instruction_stats([Instruction("q", output="a")])["categories"] == {"(none)": 1}


def test_data_cli_on_instruction_files(tmp_path, capsys):
    src = tmp_path / "alpaca_data.json"
    write_instructions(_many(), src)
    assert main(["data", "stats", str(src), "--json", "--no-tokens"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == 41 and stats["categories"] == {"big": 31, "small": 10}
    assert main(["data", "convert", str(src), str(tmp_path / "d.jsonl"), "--to", "dolly"]) == 0
    assert read_instructions(tmp_path / "d.jsonl", "dolly") == _many()
    assert (tmp_path / "d.config.yaml").is_file()
    assert main(["data", "convert", str(tmp_path / "d.jsonl"), str(tmp_path / "c.jsonl")]) == 0  # keeps dolly
    assert detect_instruction_format(tmp_path / "c.jsonl") == "dolly"
    assert main(["data", "convert", str(src), str(tmp_path / "x.jsonl")]) == 1
    assert "--to" in capsys.readouterr().err
    assert main(["data", "convert", str(src), str(tmp_path / "x.csv"), "--to", "csv"]) == 1
    assert "holds instructions" in capsys.readouterr().err
    out = tmp_path / "split"
    assert main(["data", "split", str(src), "--names", "train", "test", "--stratify", "category", "--seed", "0",
                 "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["split.config.yaml", "test.json", "train.json"]
    assert len(read_instructions(out / "test.json")) == 8
    assert main(["data", "split", str(src), "--by", "source", "--test-sources", "x"]) == 1
    assert "--by source splits causal maps" in capsys.readouterr().err
    maps = tmp_path / "maps.jsonl"
    maps.write_text(json.dumps({"text": "Rain raises yields.", "edges": []}) + "\n")
    assert main(["data", "split", str(maps), "--stratify", "category", "--out-dir", str(out)]) == 1
    assert "needs an instruction file" in capsys.readouterr().err


def test_bundled_set_is_what_its_readme_says():
    train, test = read_instructions(bundled("train")), read_instructions(bundled("test"))
    assert (len(train), len(test)) == (269, 67)
    records = train + test
    categories = {"explain_term", "summarise", "name_causes", "rewrite_lay", "short_answer"}
    assert {r.category for r in records} == categories and all(r.id for r in records)
    assert len({r.id for r in records}) == len(records)
    assert not {(r.instruction, r.input) for r in train} & {(r.instruction, r.input) for r in test}
    assert len({(r.instruction, r.input) for r in records}) == len(records)
    assert 100 < sum(bool(r.input) for r in records) < len(records) - 100  # a mix of with and without input
    assert all(r.output.count(". ") <= 2 and len(r.output.split()) <= 40 for r in records)  # 1-3 short sentences
    # the README's command: the seed-0 stratified split of all records in id order gives these files
    ordered = sorted(records, key=lambda r: r.id)
    assert split_instructions(ordered, (0.8, 0.2), seed=0, stratify="category") == [train, test]
