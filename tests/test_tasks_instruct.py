"""The instruct task: the Alpaca prompt character for character, eos closing every training target and
never ending an inference prompt, loss on the response only, and two training steps on the bundled set."""

import json

import pytest

from fcmatch.cli import main
from fcmatch.data.instructions import Instruction
from fcmatch.models import load_tokenizer
from fcmatch.tasks import TASKS, instruct
from fcmatch.train import TrainConfig, sft
from fcmatch.train.data import IGNORE, load_conversations, tokenize

# The two prompts of PROMPT_DICT in github.com/tatsu-lab/stanford_alpaca train.py, written out in full
ALPACA_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nName the causes stated in this sentence.\n\n"
    "### Input:\nDrought and heat cut yields.\n\n"
    "### Response:"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nWhat is the chemical symbol for gold?\n\n"
    "### Response:"
)
WITH_INPUT = Instruction("Name the causes stated in this sentence.", "Drought and heat cut yields.", "Drought and heat.")
NO_INPUT = Instruction("What is the chemical symbol for gold?", "", "Au.")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


def test_every_registered_task_reads_records_and_makes_examples():
    for name, task in TASKS.items():
        assert callable(task.read_records) and callable(task.to_example) and callable(task.prompt_messages), name
    assert TASKS["instruct"].template == "alpaca" and TASKS["instruct-chat"].template == "chat"


def test_alpaca_prompt_is_the_authors_character_for_character():
    assert instruct.prompt_text(WITH_INPUT, None) == ALPACA_INPUT
    assert instruct.prompt_text(NO_INPUT, None) == ALPACA_NO_INPUT
    assert instruct.to_example(WITH_INPUT) == {"prompt": ALPACA_INPUT, "completion": "Drought and heat."}
    # the authors' rule: the no-input variant only for an input that is the empty string
    assert "### Input:\n \n\n" in instruct.alpaca_prompt(Instruction("Q", " ", "A"))
    with pytest.raises(ValueError, match="no place for a system message"):
        instruct.alpaca_prompt(Instruction("Q", "", "A", system="Be brief."))
    with pytest.raises(ValueError, match="template 'llama'"):
        instruct.to_example(NO_INPUT, "llama")


def test_chat_template_puts_instruction_and_input_in_the_user_turn(tokenizer):
    assert instruct.prompt_messages(WITH_INPUT) == [
        {"role": "user", "content": "Name the causes stated in this sentence.\n\nDrought and heat cut yields."}]
    assert instruct.to_example(NO_INPUT, "chat")["messages"][-1] == {"role": "assistant", "content": "Au."}
    assert instruct.prompt_text(NO_INPUT, tokenizer, "chat") == (
        "<|im_start|>user\nWhat is the chemical symbol for gold?<|im_end|>\n<|im_start|>assistant\n")
    system = Instruction("Q", "", "A", system="Be brief.")
    assert instruct.prompt_messages(system)[0] == {"role": "system", "content": "Be brief."}
    assert instruct.reference(WITH_INPUT) == "Drought and heat."


@pytest.mark.parametrize("template", ["alpaca", "chat"])
@pytest.mark.parametrize("record", [WITH_INPUT, NO_INPUT], ids=["input", "no-input"])
def test_loss_covers_the_response_and_eos_only_and_the_prompt_is_what_inference_sees(tokenizer, template, record):
    task_example = instruct.to_example(record, template)
    example = tokenize(tokenizer, task_example.get("messages", task_example))  # as load_conversations passes it
    eos = tokenizer.eos_token_id
    trained = [t for t in example.targets if t != IGNORE]
    assert tokenizer.decode(trained) == record.output + tokenizer.eos_token
    assert trained[-1] == eos  # the training target ends with eos
    first = next(i for i, t in enumerate(example.targets) if t != IGNORE)
    assert all(t == IGNORE for t in example.targets[:first]) and example.targets[-1] == IGNORE
    assert example.targets[first:-1] == example.input_ids[first + 1:]  # every trained position, no gap
    prompt = instruct.prompt_text(record, tokenizer, template)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert example.input_ids[: first + 1] == prompt_ids  # inference sees exactly the trained prefix
    assert prompt_ids[-1] != eos and not prompt.endswith(tokenizer.eos_token)
    if template == "alpaca":
        assert tokenizer.eos_token not in prompt and eos not in prompt_ids


def test_trainer_reads_the_bundled_files_through_the_task():
    conversations = load_conversations(instruct.bundled("train"), "instruct", limit=3)
    assert all(set(c) == {"prompt", "completion"} for c in conversations)
    assert conversations[0]["prompt"].startswith("Below is an instruction that describes a task.")
    chats = load_conversations(instruct.bundled("test"), "instruct-chat")
    assert len(chats) == 67 and chats[0][-1]["role"] == "assistant"
    with pytest.raises(ValueError, match="split 'val'"):
        instruct.bundled("val")


def test_train_two_steps_on_the_bundled_set(tiny_model_dir, tmp_path):
    run = sft(TrainConfig(task="instruct", model=str(tiny_model_dir), train_file=instruct.bundled("train"),
                          val_file=instruct.bundled("test"), output_dir=str(tmp_path / "run"), max_train_examples=16,
                          batch_size=2, max_steps=2, lr=1e-3, lora_r=2, warmup_steps=1, save_every=0, eval_every=2,
                          progress=False, num_threads=1))
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and "val_loss" in lines[-1]
    assert "task: instruct" in (run / "config.yaml").read_text()


def test_cli_train_with_the_chat_template(tiny_model_dir, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"task: instruct-chat\nmodel: {tiny_model_dir}\ntrain_file: {instruct.bundled('train')}\n"
                   "max_train_examples: 8\n")
    out = tmp_path / "cli"
    code = main(["train", str(cfg), "--max-steps", "2", "--output-dir", str(out), "--progress", "false",
                 "--batch-size", "2", "--lora-r", "2", "--num-threads", "1", "--save-every", "0"])
    assert code == 0 and f"run folder: {out}" in capsys.readouterr().out
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
