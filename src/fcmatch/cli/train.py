"""``fcmatch train CONFIG.yaml [--key value ...]`` and ``fcmatch merge RUN OUT``.

Any TrainConfig field can be overridden on the command line (``--lr 1e-4 --max-steps 20 --resume``);
``fcmatch train --help`` lists them. Under several processes run it as
``torchrun --nproc_per_node 2 -m fcmatch train CONFIG.yaml`` or ``accelerate launch -m fcmatch train ...``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.train.config import TrainConfig, field_docs

    train = sub.add_parser(
        "train",
        help="fine-tune a model (LoRA, QLoRA, DoRA, BitFit, full) from a YAML config",
        description="Every config key can be set in the YAML file or overridden here; a flag alone means true.",
    )
    train.add_argument("config", nargs="?", help="YAML config (e.g. configs/causal-lora.yaml); omit to use flags only")
    defaults = TrainConfig().to_dict()
    for key, doc in field_docs().items():
        flag = key.replace("_", "-")
        names = [f"--{flag}"] + ([f"--{key}"] if flag != key else [])
        # values stay strings here; load_config converts them to the field's type and names the key on error
        extra = {"nargs": "?", "const": "true"} if isinstance(defaults[key], bool) else {}
        train.add_argument(*names, dest=key, default=argparse.SUPPRESS, metavar="V", help=f"{doc} [{defaults[key]!r}]",
                           **extra)
    train.set_defaults(func=_train)

    merge = sub.add_parser("merge", help="merge a run's adapter into its base model and save a full model folder")
    merge.add_argument("run", help="fcmatch run folder (holding adapter/ or model/)")
    merge.add_argument("out", help="new folder for the merged model and tokenizer")
    merge.set_defaults(func=_merge)


def _train(args: argparse.Namespace) -> int:
    from fcmatch.train import load_config, sft
    from fcmatch.train.config import field_docs

    overrides = {key: getattr(args, key) for key in field_docs() if hasattr(args, key)}
    config = load_config(args.config, overrides)
    run = sft(config)
    print(f"run folder: {run}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from fcmatch.train import merge

    out = merge(args.run, args.out)
    print(f"merged model: {out}")
    return 0
