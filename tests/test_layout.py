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
           "virtual_lab": {"lake", "models"}, "app": set(PACKAGES) - {"app"}}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


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


def _private_imports(path: Path, package: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in set(PACKAGES) - {package}:
            out += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_names_across_packages(package):
    for path in (ROOT / package).rglob("*.py"):
        taken = _private_imports(path, package)
        assert not taken, f"{path.relative_to(ROOT)} imports private {taken}; make them public where they live"


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
