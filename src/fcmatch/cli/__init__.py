"""The ``fcmatch`` command line: one thin module per pipeline stage in this package.

Each module ``fcmatch/cli/<stage>.py`` defines ``register(subparsers)``, which adds its subcommand(s)
with ``set_defaults(func=...)``; the function parses nothing itself and calls one library function.
Modules are discovered here, so adding a stage never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from fcmatch import __version__

# pipeline order for --help; stages not listed come after, alphabetically
ORDER = ["data", "lit", "train", "extract", "generate", "evaluate", "sweep", "fewshot", "report", "judge", "align", "serve", "study", "annotate"]


def _stages() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcmatch",
        description="Fine-tune small LMs to extract causal maps from scholarly text and evaluate them against people.",
    )
    parser.add_argument("--version", action="version", version=f"fcmatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for stage in _stages():
        importlib.import_module(f"{__name__}.{stage}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fcmatch`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # library errors carry file/line/flag in their message; a traceback would bury it
        print(f"fcmatch {args.command}: error: {err}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
