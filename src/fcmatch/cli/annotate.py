"""``fcmatch annotate create|invite|assign|import-suggestions|order|status|agreement|export``:
run an annotation project from the command line (the same actions as the admin page).

Example::

    fcmatch annotate create sentences.txt --name pilot --overlap 0.2
    fcmatch annotate invite pilot alice bob --base-url http://127.0.0.1:8000
    fcmatch annotate assign pilot
    fcmatch annotate import-suggestions pilot predictions.jsonl
    fcmatch annotate order pilot --by uncertainty
    fcmatch annotate agreement pilot --matcher fuzzy
    fcmatch annotate export pilot train.csv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fcmatch.store import open_sessions
from fcmatch.store.engine import DEFAULT_DB_URL


def register(sub: argparse._SubParsersAction) -> None:
    ann = sub.add_parser("annotate", help="annotation projects: create, invite, assign, suggest, agree, export")
    ann.add_argument("--db", default=DEFAULT_DB_URL, help="SQLAlchemy URL of the web app's database")
    cmds = ann.add_subparsers(dest="annotate_command", metavar="ACTION", required=True)

    create = cmds.add_parser("create", help="a project from sentences (.txt one per line, .csv, fcmatch .jsonl)")
    create.add_argument("sentences", help="the sentence file")
    create.add_argument("--name", required=True, help="unique project name")
    create.add_argument("--column", default=None, help="CSV text column (default text, sentence or 'Causal claim')")
    create.add_argument("--overlap", type=float, default=0.2, help="share of sentences done by several people")
    create.add_argument("--redundancy", type=int, default=2, help="people per overlapping sentence")
    create.add_argument("--seed", type=int, default=0, help="seeds the assignment")
    create.add_argument("--instructions", default="", help="a text file shown to annotators above the editor")
    create.set_defaults(func=_create)

    invite = cmds.add_parser("invite", help="add annotators and print their secret links (shown once)")
    invite.add_argument("project", help="project name (or id)")
    invite.add_argument("names", nargs="+")
    invite.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the app is served")
    invite.set_defaults(func=_invite)

    assign = cmds.add_parser("assign", help="share the unassigned sentences among the annotators, with overlap")
    assign.add_argument("project")
    assign.set_defaults(func=_assign)

    suggest = cmds.add_parser("import-suggestions", help="model predictions (fcmatch extract .jsonl) as suggestions")
    suggest.add_argument("project")
    suggest.add_argument("predictions", help="fcmatch JSONL with meta.model")
    suggest.add_argument("--model", default=None, help="model name when the file has no meta.model")
    suggest.set_defaults(func=_import)

    order = cmds.add_parser("order", help="order remaining sentences by model uncertainty or disagreement")
    order.add_argument("project")
    order.add_argument("--by", choices=["input", "uncertainty", "disagreement"], required=True)
    order.add_argument("--matcher", default="exact", help="node matcher for --by disagreement")
    order.set_defaults(func=_order)

    status = cmds.add_parser("status", help="progress per annotator and suggestion accept/edit/reject rates")
    status.add_argument("project")
    status.set_defaults(func=_status)

    agree = cmds.add_parser("agreement", help="graph F1 and sign kappa between annotators on shared sentences")
    agree.add_argument("project")
    agree.add_argument("--matcher", default="exact", help="node matcher: exact, fuzzy, token, embedding, paper")
    agree.add_argument("--worst", type=int, default=10, help="most-disputed sentences to list")
    agree.add_argument("--json", action="store_true", help="print the full report as JSON")
    agree.set_defaults(func=_agreement)

    export = cmds.add_parser("export", help="finished annotations: .jsonl (fcmatch), .csv (claims), .json (MATCH)")
    export.add_argument("project")
    export.add_argument("output")
    export.add_argument(
        "--per-sentence",
        choices=["one", "all"],
        default=None,
        help="one annotation per sentence (default for .jsonl/.csv) or all (default for .json)",
    )
    export.add_argument("--drafts", action="store_true", help="include annotations not marked done")
    export.add_argument("--unclear", action="store_true", help="include sentences flagged unclear")
    export.set_defaults(func=_export)


def _create(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import create_project
    from fcmatch.annotate.sentences import read_sentences

    records = read_sentences(args.sentences, args.column)
    instructions = Path(args.instructions).read_text(encoding="utf-8") if args.instructions else ""
    with open_sessions(args.db).begin() as session:
        project = create_project(session, args.name, records, args.overlap, args.redundancy, args.seed, instructions)
        print(f"project {project.id} '{project.name}': {len(records)} sentences")
    return 0


def _invite(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project, invite

    with open_sessions(args.db).begin() as session:
        made = invite(session, get_project(session, args.project), args.names)
    base = args.base_url.rstrip("/")
    for name, token in made:
        print(f"{name}\t{base}/annotate/a/{token}")
    return 0


def _assign(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import assign, get_project

    with open_sessions(args.db).begin() as session:
        counts = assign(session, get_project(session, args.project))
    for name, count in counts.items():
        print(f"{name}: +{count} sentences")
    return 0


def _import(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project, import_predictions
    from fcmatch.data.formats import read_jsonl
    from fcmatch.store.inputs import read_named

    maps = read_named(args.predictions, read_jsonl)
    with open_sessions(args.db).begin() as session:
        report = import_predictions(session, get_project(session, args.project), maps, args.model)
    print(json.dumps(report))
    return 0


def _order(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project, set_ordering

    with open_sessions(args.db).begin() as session:
        scored = set_ordering(session, get_project(session, args.project), args.by, args.matcher)
    print(f"ordered by {args.by}: {scored} sentences scored")
    return 0


def _status(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project
    from fcmatch.annotate.results import project_progress, suggestion_report

    with open_sessions(args.db).begin() as session:
        project = get_project(session, args.project)
        report = {"progress": project_progress(session, project), "suggestions": suggestion_report(session, project)}
    print(json.dumps(report, indent=1))
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project
    from fcmatch.annotate.results import project_agreement

    with open_sessions(args.db).begin() as session:
        report = project_agreement(session, get_project(session, args.project), args.matcher, args.worst)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"sentences annotated by several people: {report['sentences']} ({report['pairs']} pairs)")
    print(f"graph F1 ({report['matcher']}): mean {fmt(report['mean_f1'])}, micro {fmt(report['micro_f1'])}")
    print(
        f"sign: {report['matched_edges']} matched edges, agreement {fmt(report['sign_agreement'])}, "
        f"Cohen's kappa {fmt(report['sign_kappa'])}"
    )
    for row in report["disagreements"]:
        print(f"  F1 {row['f1']:.2f}  {row['text']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from fcmatch.annotate.project import get_project
    from fcmatch.annotate.results import export_project

    per_sentence = args.per_sentence or ("all" if Path(args.output).suffix.lower() == ".json" else "one")
    with open_sessions(args.db).begin() as session:
        count = export_project(
            session,
            get_project(session, args.project),
            args.output,
            per_sentence=per_sentence,
            include_drafts=args.drafts,
            include_unclear=args.unclear,
        )
    print(f"wrote {count} causal maps to {args.output}")
    return 0
