"""``fcmatch fcm build|review|scenario|export|evaluate``: sentence maps -> a corpus causal model.

Flags come from the dataclasses in :mod:`fcmatch.fcm.config`; the logic is in :mod:`fcmatch.fcm`.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.fcm import config as c

    fcm = sub.add_parser("fcm", help="build, review, simulate, export and evaluate corpus causal maps",
                         description="From sentence maps to one corpus causal map (fuzzy cognitive map).")
    inner = fcm.add_subparsers(dest="fcm_command", metavar="STEP")
    for name, cls, func, text in (
        ("build", c.BuildConfig, _build, "merge sentence maps into one corpus map (JSON with provenance)"),
        ("review", c.ReviewConfig, _review, "write the editable merge table; --serve shows the map page"),
        ("scenario", c.ScenarioConfig, _scenario, "what-if: clamp concepts, compare steady states with baseline"),
        ("export", c.ExportConfig, _export, "GraphML, GEXF, JSON, CSV, matrix CSV, HTML, PNG, SVG"),
        ("evaluate", c.CorpusEvaluateConfig, _evaluate, "compare predicted and gold corpus maps"),
    ):
        cmd = inner.add_parser(name, help=text, description=(cls.__doc__ or text).strip())
        add_arguments(cmd, cls)
        cmd.set_defaults(func=func)
    fcm.set_defaults(func=lambda args: fcm.print_help() or 2)


def _build(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.fcm.build import run_build
    from fcmatch.fcm.config import BuildConfig

    run_build(from_args(BuildConfig, args))
    return 0


def _review(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.fcm.config import ReviewConfig
    from fcmatch.fcm.scenario import run_review

    config = from_args(ReviewConfig, args)
    run_review(config)
    if config.serve:
        import uvicorn

        from fcmatch.web.fcm import create_fcm_app

        print(f"corpus map review page on http://{config.host}:{config.port}/")
        uvicorn.run(create_fcm_app(config.corpus), host=config.host, port=config.port, log_level="warning")
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.fcm.config import ScenarioConfig
    from fcmatch.fcm.scenario import run_scenario

    config = from_args(ScenarioConfig, args)
    result = run_scenario(config).to_dict()
    print(json.dumps({k: result[k] for k in ("clamp", "baseline", "scenario")}))
    for row in result["concepts"][: config.top]:
        print(f"{row['delta']:+.3f}  {row['baseline']:.3f} -> {row['scenario']:.3f}  {row['concept']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args, save_beside
    from fcmatch.fcm.config import ExportConfig
    from fcmatch.fcm.corpus import load_corpus
    from fcmatch.fcm.export import export

    config = from_args(ExportConfig, args)
    for path in export(load_corpus(config.corpus), config.out_dir, config.formats, config.max_nodes,
                       config.min_weight):
        print(path)
    save_beside(config, config.out_dir)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.fcm.config import CorpusEvaluateConfig
    from fcmatch.fcm.evaluate import run_evaluate

    print(json.dumps(run_evaluate(from_args(CorpusEvaluateConfig, args)), indent=1))
    return 0
