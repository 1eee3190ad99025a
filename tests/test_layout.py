"""The package's layering, read from the source with ``ast`` (nothing is imported or run):

- ``fcmatch.web`` is the HTTP layer only, so no library package imports it; only ``fcmatch.web`` itself,
  the command line (``fcmatch.cli``) and the end-to-end demo (``fcmatch.demo``) may;
- ``fcmatch.store`` is the bottom of the database stack: it imports neither the logic built on it
  (``fcmatch.study``, ``fcmatch.annotate``) nor the web app.

Every import counts: module-level and inside functions, ``import fcmatch.web.x``,
``from fcmatch.web import x``, ``from fcmatch import web``, relative imports, and
``importlib.import_module("fcmatch.web...")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fcmatch

PACKAGE_DIR = Path(fcmatch.__file__).resolve().parent
WEB_IMPORTERS = ("fcmatch.web", "fcmatch.cli", "fcmatch.demo")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module ``path`` (the source of ``module``) imports, as dotted names.

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule); a relative import is
    resolved against ``module``'s package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _offenders(importers: dict[str, Path], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module, path in importers.items():
        hits = sorted(n for n in imported_modules(path, module) if any(_within(n, f) for f in forbidden))
        if hits:
            out.append(f"{path.relative_to(PACKAGE_DIR.parent)} imports {', '.join(hits)}")
    return out


def test_the_walk_sees_every_kind_of_import(tmp_path: Path):
    source = (
        "import fcmatch.web.app\n"
        "from fcmatch import web\n"
        "from ..web import pages\n"
        "def f():\n"
        "    from fcmatch.web.svg import draw_map\n"
        "    importlib.import_module('fcmatch.web.annotate')\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    found = imported_modules(path, "fcmatch.study.probe")
    assert {"fcmatch.web.app", "fcmatch.web", "fcmatch.web.pages", "fcmatch.web.svg", "fcmatch.web.annotate"} <= found


def test_only_the_http_layer_the_cli_and_the_demo_import_web():
    modules = _modules()
    assert "fcmatch.web.app" in modules and "fcmatch.study.assignment" in modules  # the walk found the tree
    library = {m: p for m, p in modules.items() if not any(_within(m, allowed) for allowed in WEB_IMPORTERS)}
    assert _offenders(library, ("fcmatch.web",)) == []


def test_store_imports_nothing_built_on_it():
    store = {m: p for m, p in _modules().items() if _within(m, "fcmatch.store")}
    assert "fcmatch.store.schema" in store
    assert _offenders(store, ("fcmatch.study", "fcmatch.annotate", "fcmatch.web")) == []
