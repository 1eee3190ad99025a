"""``fcmatch metacog label|study|run``: labelled predictions, and the whole validate-then-regenerate study.

    fcmatch metacog label --model runs/metacog-demo/answerer --split test --output labelled.jsonl
    fcmatch metacog study configs/metacog-demo.yaml
    fcmatch metacog run configs/metacog-demo.yaml --rounds 3 --round-temperatures 0.7 1.0 1.3 --name loop-r3
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments, field_docs
    from fcmatch.metacog.config import LabelConfig, StudyConfig

    cmd = sub.add_parser("metacog", help="metacognition: labelled predictions, validator, EXAR and the loop",
                         description="Validator and exclusive-regeneration adapters and the validate-then-regenerate "
                         "loop (docs/metacognition.md).")
    stages = cmd.add_subparsers(dest="metacog", metavar="STAGE", required=True)
    label = stages.add_parser("label", help="answer questions at several temperatures and label them CORRECT/WRONG",
                              description="Answers of a model at each temperature, labelled by the rule, deduplicated, "
                              "with provenance; prints the label balance.")
    add_arguments(label, LabelConfig)
    label.set_defaults(func=_label)
    docs = field_docs(StudyConfig)
    study = stages.add_parser("study", help="answerer, labels, validator, EXAR, loop and oracle; report.md",
                              description="Run (or resume) the whole study in CONFIG.yaml's out folder.")
    study.add_argument("config", metavar="CONFIG.yaml", help="study file (e.g. configs/metacog-demo.yaml)")
    study.add_argument("--out", default=argparse.SUPPRESS, metavar="DIR", help=docs["out"])
    for name in ("limit_train", "limit_test", "threads"):
        study.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=argparse.SUPPRESS, metavar="N",
                           help=docs[name])
    study.add_argument("--progress", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                       help=docs["progress"])
    study.set_defaults(func=_study)
    again = stages.add_parser("run", help="the loop alone on a finished study, with other rounds or schedule",
                              description="Answer -> validate -> regenerate with EXAR on the held-out questions, using "
                              "the adapters and threshold of the study in CONFIG.yaml's out folder.")
    again.add_argument("config", metavar="CONFIG.yaml", help="the study's file")
    again.add_argument("--name", default="loop-again", help="output stem in the study folder [default loop-again]")
    again.add_argument("--rounds", type=int, default=argparse.SUPPRESS, metavar="N", help=docs["rounds"])
    again.add_argument("--round-temperatures", dest="round_temperatures", type=float, nargs="+",
                       default=argparse.SUPPRESS, metavar="T", help=docs["round_temperatures"])
    again.add_argument("--keep", nargs="+", default=argparse.SUPPRESS, metavar="POLICY", help=docs["keep"])
    again.add_argument("--threads", type=int, default=argparse.SUPPRESS, metavar="N", help=docs["threads"])
    again.set_defaults(func=_run)


def _label(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.metacog.answers import label_command
    from fcmatch.metacog.config import LabelConfig

    config = from_args(LabelConfig, args)
    print(json.dumps(label_command(config), indent=2))
    print(f"labelled: {config.output}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from fcmatch.metacog.config import load_study
    from fcmatch.metacog.study import run_study

    names = ("out", "limit_train", "limit_test", "threads", "progress")
    report = run_study(load_study(args.config, {k: getattr(args, k) for k in names if hasattr(args, k)}))
    print(f"results: {report.parent / 'results.json'}")
    print(f"report: {report.resolve()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from fcmatch.metacog.config import load_study
    from fcmatch.metacog.report import loop_table
    from fcmatch.metacog.study import run_again

    names = ("rounds", "round_temperatures", "keep", "threads")
    config = load_study(args.config, {k: getattr(args, k) for k in names if hasattr(args, k)})
    print("\n".join(loop_table(run_again(config, args.name))))
    print(f"loop: {config.out}/{args.name}.json")
    return 0
