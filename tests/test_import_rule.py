"""The house rule: imports only run downward (docs/architecture.md).

    cli -> commands -> {train, infer, evaluate, classify, export, demo} -> {archs, losses, data, core}
                                                                        -> {errors, registry, config}
    napari (plugin front end, like cli) -> {infer, microgan.load} and the lower rows

Within the middle row, infer is the one restoring facade that evaluate, classify and the demo may
use, and the demo (the main job's script) composes training and evaluation; nothing else goes
sideways. Every import counts, including those inside functions (a lazy import is still an arrow).
Checked on the source text with ``ast``: no module is imported, so the test is cheap and cannot be
fooled by import order.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import microgan

ROOT = Path(microgan.__file__).resolve().parent

BASE = {"errors", "registry", "config"}
LOWER = {"archs", "losses", "data", "core"}
#: room -> the rooms it may import (its own always allowed)
ALLOWED: Dict[str, Set[str]] = {
    **{name: BASE for name in BASE},
    **{name: LOWER | BASE for name in LOWER},
    "train": LOWER | BASE,
    "infer": LOWER | BASE,
    "evaluate": LOWER | BASE | {"infer"},
    "classify": LOWER | BASE | {"infer"},
    "export": LOWER | BASE,
    "demo": LOWER | BASE | {"infer", "train", "evaluate"},
    "commands": LOWER | BASE | {"train", "infer", "evaluate", "classify", "export", "demo"},
    "cli": BASE | {"commands", "__init__"},
    "__main__": {"cli"},
    "__init__": {"infer"},  # microgan.load() is the Python facade over the Enhancer
    "napari": LOWER | BASE | {"infer", "__init__"},  # a front end: restores through microgan.load()
}


def room(relative: Path) -> str:
    """``core/checkpoint.py`` -> ``core``; ``losses.py`` -> ``losses``; ``__init__.py`` -> ``__init__``."""
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_rooms(source: str) -> Iterator[Tuple[int, str]]:
    """(line, room) of every ``microgan`` import in ``source``, at any depth (functions included)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "microgan":  # from microgan import infer / __version__
                names = [f"microgan.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "microgan":
                yield node.lineno, parts[1] if len(parts) > 1 else "__init__"


def violations(root: Path) -> List[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        mine = room(relative)
        allowed = ALLOWED[mine] | {mine}
        for line, target in imported_rooms(path.read_text(encoding="utf-8")):
            target = "__init__" if target == "__version__" else target
            if target not in allowed:
                found.append(f"{relative}:{line}: {mine} imports microgan.{target}")
    return found


def test_every_room_is_known() -> None:
    rooms = {room(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")}
    assert rooms <= set(ALLOWED), f"new top-level module(s) {sorted(rooms - set(ALLOWED))}: place them in ALLOWED"


def test_imports_only_run_downward() -> None:
    assert violations(ROOT) == []


def test_the_check_sees_function_level_and_package_imports(tmp_path: Path) -> None:
    (tmp_path / "infer").mkdir()
    (tmp_path / "infer" / "enhancer.py").write_text(
        "from microgan.core.device import autocast\n"
        "def load():\n    from microgan.train.checkpoint import load_checkpoint\n"
        "def more():\n    import microgan.evaluate.metrics\n    from microgan import classify\n"
    )
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "metrics.py").write_text("def f():\n    from microgan.evaluate import report\n")
    assert violations(tmp_path) == [
        "core/metrics.py:2: core imports microgan.evaluate",
        "infer/enhancer.py:3: infer imports microgan.train",
        "infer/enhancer.py:5: infer imports microgan.evaluate",
        "infer/enhancer.py:6: infer imports microgan.classify",
    ]


def _private_names_defined(source: str) -> Set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.startswith("_"):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and leaf.attr.startswith("_"):
                        names.add(leaf.attr)
                    elif isinstance(leaf, ast.Name) and leaf.id.startswith("_"):
                        names.add(leaf.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, (ast.Attribute, ast.Name)):
            name = node.target.attr if isinstance(node.target, ast.Attribute) else node.target.id
            if name.startswith("_"):
                names.add(name)
    return {n for n in names if not (n.startswith("__") and n.endswith("__"))}


def test_no_module_uses_another_modules_private_names() -> None:
    """A name with a leading underscore is its module's own: the package, the benchmarks and the scripts
    use other modules only through public names (a private one used elsewhere is a missing public API)."""
    repo = ROOT.parents[1]
    files = sorted(ROOT.rglob("*.py")) + sorted((repo / "benchmarks").glob("*.py")) + sorted((repo / "scripts").glob("*.py"))
    sources = {path: path.read_text(encoding="utf-8") for path in files}
    defined = {path: _private_names_defined(text) for path, text in sources.items() if ROOT in path.parents}
    package_private = set().union(*defined.values())
    found = []
    for path, text in sources.items():
        own = defined.get(path, set())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("microgan"):
                used = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                used = [node.attr]
            else:
                continue
            for name in used:
                if name in package_private and name not in own:
                    found.append(f"{path.relative_to(repo)}:{node.lineno}: {name}")
    assert not found, "\n".join(found)


def test_the_architecture_doc_names_every_module() -> None:
    """docs/architecture.md is the package map: a module it does not name is one a reader cannot find."""
    doc = (ROOT.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(p.relative_to(ROOT)) for p in sorted(ROOT.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py") and not re.search(rf"\b{re.escape(p.stem)}\b", doc)]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
