"""The package layout that ARCHITECTURE.md promises: allowed import directions, no cycles, small modules.

Every module of ``bertedu/`` is parsed (``ast``, nothing is imported) and each ``import bertedu...`` it makes,
at module level or inside a function, becomes an edge between two modules.  Imports under
``if TYPE_CHECKING:`` are annotations only and do not count.  ``from bertedu import X`` goes to the module
that defines ``X`` (the lazy re-exports of ``bertedu/__init__.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bertedu"
MAX_LINES_OF_CODE = 300

# package -> the packages its modules may import (each may always import itself).  "bertedu" is the
# lazy top level (it imports nothing), "bertedu.pretrain" and "bertedu.finetune" the command-line entry points.
ALLOWED: dict[str, set[str]] = {
    "bertedu._io": set(),
    "bertedu.config": {"bertedu._io"},
    "bertedu.text": {"bertedu._io"},
    "bertedu.model": {"bertedu._io", "bertedu.config"},
    "bertedu.datasets": {"bertedu._io"},
    "bertedu.pretraining": {"bertedu._io", "bertedu.config", "bertedu.text", "bertedu.model", "bertedu.datasets"},
    "bertedu.finetuning": {"bertedu._io", "bertedu.config", "bertedu.text", "bertedu.model", "bertedu.datasets",
                           "bertedu.pretraining"},  # the AdamW groups, schedule and metrics log are shared
    "bertedu.notebook": set(),
    # the later parts build on everything below them, never on each other (except study -> the chapters' data)
    "bertedu.experiments": {"bertedu._io", "bertedu.config", "bertedu.text", "bertedu.model", "bertedu.datasets",
                            "bertedu.pretraining", "bertedu.finetuning"},
    "bertedu.beyond": {"bertedu._io", "bertedu.config", "bertedu.text", "bertedu.model", "bertedu.datasets",
                       "bertedu.pretraining", "bertedu.finetuning"},
    "bertedu.study": {"bertedu._io", "bertedu.config", "bertedu.text", "bertedu.model", "bertedu.pretraining"},
    "bertedu.teach": {"bertedu._io"},
    "bertedu.pretrain": {"bertedu.pretraining"},
    "bertedu.finetune": {"bertedu.finetuning"},
    "bertedu": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def lazy_exports() -> dict[str, str]:
    """Public name -> defining module, from the ``_PUBLIC`` table of bertedu/__init__.py (read, not imported)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "_PUBLIC":
            table = ast.literal_eval(node.value)
            return {name: f"bertedu.{module}" for module, names in table.items() for name in names}
    raise AssertionError("bertedu/__init__.py has no _PUBLIC table")


EXPORTS = lazy_exports()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported bertedu module, line) for every runtime import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    edges = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            edges += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "bertedu"]
            continue
        if node.level:  # relative import: resolve against this module's package
            base = module.split(".")
            base = base[: len(base) - node.level + (path.name == "__init__.py")]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "bertedu":
            continue
        for alias in node.names:
            if target == "bertedu":
                edges.append((EXPORTS.get(alias.name, f"bertedu.{alias.name}"), node.lineno))
            elif f"{target}.{alias.name}" in MODULES:  # `from bertedu.pretraining import masking`
                edges.append((f"{target}.{alias.name}", node.lineno))
            else:
                edges.append((target, node.lineno))
    return edges


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_bertedu_import_names_an_existing_module():
    missing = [f"{m}:{line} imports {t}" for m, edges in GRAPH.items() for t, line in edges if t not in MODULES]
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def forbidden_imports(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Every import that goes against ALLOWED, as "module:line imports target (...)"."""
    bad = []
    for module, edges in graph.items():
        mine = package_of(module)
        allowed = ALLOWED.get(mine)
        if allowed is None:
            bad.append(f"{module}: package {mine} is not in the layout; add it here and to ARCHITECTURE.md")
            continue
        for target, line in edges:
            theirs = package_of(target)
            if theirs != mine and theirs not in allowed:
                bad.append(f"{module}:{line} imports {target} ({mine} may import only {sorted(allowed)})")
    return bad


def find_cycle(graph: dict[str, list[tuple[str, int]]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target, _ in graph.get(module, []):
            if target == module or target not in graph:
                continue
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in graph:
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_imports_follow_the_allowed_directions():
    bad = forbidden_imports(GRAPH)
    assert not bad, "forbidden import directions:\n" + "\n".join(bad)


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checks_can_fail():
    """A made-up graph with a model -> pretraining import that closes a cycle is caught twice."""
    fake = {"bertedu.model.a": [("bertedu.pretraining.b", 1)], "bertedu.pretraining.b": [("bertedu.model.a", 2)]}
    assert find_cycle(fake) == ["bertedu.model.a", "bertedu.pretraining.b", "bertedu.model.a"]
    assert forbidden_imports(fake) == ["bertedu.model.a:1 imports bertedu.pretraining.b (bertedu.model may import "
                                       "only ['bertedu._io', 'bertedu.config'])"]
    assert find_cycle({"bertedu.model.a": [("bertedu.config", 1)], "bertedu.config": []}) is None


def test_text_imports_torch_only_inside_functions():
    """The tokenizer must load without torch (it is only needed for return_tensors="pt")."""
    for module, path in MODULES.items():
        if package_of(module) != "bertedu.text":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] == "torch"], f"{module} imports torch at module level"


def test_notebook_helpers_are_imported_only_by_the_book():
    users = [m for m, edges in GRAPH.items() for t, _ in edges
             if package_of(t) == "bertedu.notebook" and package_of(m) != "bertedu.notebook"]
    assert not users, f"library modules import the notebook helpers: {users}"


def lines_of_code(path: Path) -> int:
    """Lines that are not blank, not comments and not docstrings."""
    source = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    return sum(1 for n, line in enumerate(source.splitlines(), start=1)
               if line.strip() and not line.strip().startswith("#") and n not in docstrings)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module):
    n = lines_of_code(MODULES[module])
    assert n <= MAX_LINES_OF_CODE, f"{module} has {n} lines of code (at most {MAX_LINES_OF_CODE}): split it"


def documented_layout() -> set[str]:
    """Files of bertedu/ named in ARCHITECTURE.md's layout block, as paths relative to bertedu/."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    files, package = set(), None
    for line in block.splitlines():
        if not line.startswith("  ") or line.startswith("   " * 8):
            continue  # the bertedu/ line itself, and continuation lines of a description
        head = line.split()[0] if line.strip() else ""
        if line.startswith("  ") and not line.startswith("   ") and head.endswith("/"):
            package = head.rstrip("/")
            continue
        if line.startswith("  ") and not line.startswith("   "):
            package = None
        names = [w.rstrip(",") for w in line.split() if w.rstrip(",").endswith(".py") or w == "SHA256SUMS"]
        if line.startswith("    ") or package is None:
            files.update(f"{package}/{n}" if package and line.startswith("    ") else n for n in names)
    return files


def test_architecture_layout_matches_the_package_on_disk():
    on_disk = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.is_file()
               and (p.suffix == ".py" or p.name == "SHA256SUMS") and "__pycache__" not in p.parts
               and not (p.name == "__init__.py" and p.parent != PACKAGE) and not p.name.startswith("_")
               or p == PACKAGE / "__init__.py" or p == PACKAGE / "_io.py"}
    documented = documented_layout()
    assert on_disk - documented == set(), f"on disk but not in ARCHITECTURE.md's layout: {sorted(on_disk - documented)}"
    assert documented - on_disk == set(), f"in ARCHITECTURE.md's layout but not on disk: {sorted(documented - on_disk)}"
