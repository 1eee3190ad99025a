"""``fcmatch study create|invite|export|list``: administer judging studies from the command line.

Example::

    fcmatch study create ../shared/data/match/annotations --name MATCH --per-judge 40 --repeats 4 --common 5
    fcmatch study invite 1 alice bob --base-url http://127.0.0.1:8000
    fcmatch study export 1 verdicts.jsonl     # or verdicts.csv, or a folder: the MATCH layout
    fcmatch align --study 1 --db sqlite:///fcmatch-web.sqlite
"""

from __future__ import annotations

import argparse
import json
import sys

from fcmatch.store import open_sessions
from fcmatch.store.engine import DEFAULT_DB_URL
from fcmatch.study.create import StudyConfig


def register(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help="create judging studies, invite judges, export verdicts")
    study.add_argument("--db", default=DEFAULT_DB_URL, help="SQLAlchemy URL of the web app's database")
    cmds = study.add_subparsers(dest="study_command", metavar="ACTION", required=True)

    create = cmds.add_parser("create", help="a study from several labelers' causal maps")
    create.add_argument("paths", nargs="+", help="MATCH annotation folder/files (.json) or extract outputs (.jsonl)")
    defaults = StudyConfig()
    create.add_argument("--name", default=defaults.name)
    create.add_argument("--per-judge", type=int, default=defaults.per_judge, help="comparisons per judge")
    create.add_argument("--pairing", choices=["random", "adaptive"], default=defaults.pairing)
    create.add_argument("--repeats", type=int, default=defaults.n_repeats, help="repeated pairs per judge (intra-rater)")
    create.add_argument("--common", type=int, default=defaults.n_common, help="pairs every judge sees (inter-rater)")
    create.add_argument("--show-labelers", action="store_true", help="show labeler names to judges")
    create.add_argument("--seed", type=int, default=defaults.seed)
    create.set_defaults(func=_create)

    invite = cmds.add_parser("invite", help="add judges and print their secret links")
    invite.add_argument("study_id", type=int)
    invite.add_argument("names", nargs="+")
    invite.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the app is served")
    invite.set_defaults(func=_invite)

    export = cmds.add_parser("export", help="verdicts as comparison JSONL, CSV or a MATCH-layout folder")
    export.add_argument("study_id", type=int)
    export.add_argument(
        "output", help="the format follows the name: .jsonl (comparisons), .csv (spreadsheet) or a folder "
        "without extension (MATCH layout, for `fcmatch align --data` and `fcmatch judge report`)",
    )
    export.set_defaults(func=_export)

    listing = cmds.add_parser("list", help="studies with their counts")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    from fcmatch.study.create import create_study, load_labelled_maps
    from fcmatch.study.export import study_summary

    config = StudyConfig(
        args.name, args.per_judge, args.pairing, args.repeats, args.common, not args.show_labelers, args.seed
    )
    maps = load_labelled_maps(args.paths)
    with open_sessions(args.db).begin() as session:
        study = create_study(session, maps, config)
        summary = study_summary(session, study)
        notes = study.notes()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"study {summary['id']} '{summary['name']}': {summary['sentences']} sentences, {summary['maps']} maps, "
          f"{summary['per_judge']} comparisons per judge")
    return 0


def _invite(args: argparse.Namespace) -> int:
    from fcmatch.study.create import get_study, invite_judge

    base = args.base_url.rstrip("/")
    with open_sessions(args.db).begin() as session:
        study = get_study(session, args.study_id)
        links = [(name, f"{base}/j/{invite_judge(session, study, name)[1]}") for name in args.names]
    for name, link in links:
        print(f"{name}\t{link}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from fcmatch.study.create import get_study
    from fcmatch.study.export import export_format, export_study

    export_format(args.output)  # an unknown extension fails before the database is opened
    with open_sessions(args.db)() as session:
        n = export_study(session, get_study(session, args.study_id), args.output)
    print(f"wrote {n} verdicts to {args.output}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from fcmatch.store.study_tables import Study
    from fcmatch.study.export import study_summary

    with open_sessions(args.db)() as session:
        rows = [study_summary(session, s) for s in session.scalars(select(Study).order_by(Study.id))]
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['id']:>3}  {row['name']:<24} {row['pairing']:<8} {row['sentences']:>4} sentences "
                  f"{row['judges']:>3} judges {row['verdicts']:>5} verdicts")
    return 0
