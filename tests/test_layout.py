"""The house rules: the user's top-level layout, one-way imports, small modules, a permissive licence."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lake", "ingest", "analytics", "models", "optimizer", "virtual_lab", "app")
# analytics reads what ingest defines (the per-cycle summary, the volume reader); ingest never imports analytics
ALLOWED = {"lake": set(), "ingest": {"lake"}, "analytics": {"lake", "ingest"}, "models": {"lake", "analytics"},
           "optimizer": {"models", "lake"},
           "virtual_lab": {"lake"}, "app": set(PACKAGES) - {"app"}}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def _private_names_taken(path: Path, package: str) -> list[str]:
    """`from other.module import _name`, `import other.module as m` ... `m._name`, and `other.module._name`:
    private names of another package (dunders are public)."""
    tree = ast.parse(path.read_text())
    private = (lambda name: name.startswith("_") and not name.startswith("__"))  # noqa: E731
    found, foreign = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in PACKAGES and top != package:
                found += [f"from {node.module} import {a.name}" for a in node.names if private(a.name)]
                foreign |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            foreign |= {(a.asname or a.name).split(".")[0] for a in node.names
                        if a.name.split(".")[0] in PACKAGES and a.name.split(".")[0] != package}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in foreign:
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_top_level_layout():
    for name in ("pyproject.toml", "README.md", "LICENSE", "tests", ".ci/run", *PACKAGES):
        assert (ROOT / name).exists(), name
    assert "MIT License" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    for path in (ROOT / package).rglob("*.py"):
        wrong = _imports(path) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}; {package} may import " \
                          f"{sorted(ALLOWED[package]) or 'no other package'}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_names_across_packages(package):
    for path in (ROOT / package).rglob("*.py"):
        taken = _private_names_taken(path, package)
        assert not taken, f"{path.relative_to(ROOT)} takes private names of another package: {taken}; " \
                          "give that package a public name for it"


def test_the_private_name_check_sees_both_forms(tmp_path):
    code = tmp_path / "x.py"
    code.write_text("from models.surrogate import _upper, select\nfrom models import registry\n"
                    "import lake.store\nfrom optimizer import _own\nregistry._row(1)\nlake.store._lock\n"
                    "registry.__name__\n")
    assert sorted(_private_names_taken(code, "optimizer")) == [
        "from models.surrogate import _upper", "lake.store._lock (line 6)", "registry._row (line 5)"]


def test_recipe_columns_are_listed_only_in_lake_recipe():
    """Issue 13: the recipe's columns have one home. A tuple, list or set literal naming four or more of the cells.csv
    columns (cell_id and the free-text ones aside) anywhere else is a second definition waiting to drift."""
    from lake.recipe import NAMES
    home, names = ROOT / "lake" / "recipe.py", set(NAMES) - {"cell_id", "electrolyte", "source", "reference"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())) if path != home else ():
                if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                    listed = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
                    assert len(listed) < 4, f"{path.relative_to(ROOT)}:{node.lineno} lists recipe columns " \
                                            f"{listed}; read them from lake.recipe"


def test_modules_stay_small():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            assert len(path.read_text().splitlines()) <= 450, f"{path.relative_to(ROOT)} is too long; split it"


def test_every_imported_distribution_is_declared():
    import sys
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {req.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
                for req in project["dependencies"] + [r for reqs in project["optional-dependencies"].values()
                                                      for r in reqs]}
    distribution = {"sklearn": "scikit-learn"}          # import name -> distribution name where they differ
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
                for name in (n.split(".")[0] for n in names):
                    if name in sys.stdlib_module_names or name in PACKAGES or name == "__future__":
                        continue
                    assert distribution.get(name, name).lower() in declared, \
                        f"{path.relative_to(ROOT)} imports {name}, which pyproject.toml does not declare"
