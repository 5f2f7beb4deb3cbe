"""Reproducible installs: every module the package imports is declared, the lock files pin
every declared dependency with hashes, and `make demo` installs no test extras."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.seed import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {canonical(_NAME.match(r).group(1)) for r in requirements}  # type: ignore[union-attr]


def locked(path: str) -> dict[str, list[str]]:
    """name → hashes of each pinned requirement in a lock file."""
    pins: dict[str, list[str]] = {}
    current = None
    for line in (REPO / path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+", line)
        if match:
            current = canonical(match.group(1))
            pins[current] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            assert current is not None
            pins[current].append(digest)
    return pins


def imported_modules() -> set[str]:
    """Top-level modules `newsletter/` imports anywhere (inside functions too)."""
    found: set[str] = set()
    for path in (REPO / "newsletter").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"newsletter"}


def test_every_imported_module_is_a_declared_dependency():
    runtime = declared(PYPROJECT["project"]["dependencies"])
    owners = packages_distributions()
    undeclared = {
        module: owners.get(module)
        for module in imported_modules()
        if not any(canonical(dist) in runtime for dist in owners.get(module, []))
    }
    assert undeclared == {}


def test_modules_that_libraries_import_only_through_an_extra_are_declared():
    # justext (trafilatura's dependency) imports lxml.html.clean, which lxml ≥ 5.2 moved out
    # into lxml_html_clean, reachable only through the lxml[html_clean] extra.
    assert "lxml-html-clean" in declared(PYPROJECT["project"]["dependencies"])


def test_lock_files_pin_every_declared_dependency_with_hashes():
    run, test = locked("requirements/run.txt"), locked("requirements/test.txt")
    runtime = declared(PYPROJECT["project"]["dependencies"])
    extras = declared(PYPROJECT["project"]["optional-dependencies"]["test"])
    assert runtime <= set(run)
    assert runtime | extras <= set(test)
    assert all(hashes for hashes in test.values())
    assert all(hashes for hashes in run.values())


def test_running_lock_has_no_test_extras_and_agrees_with_the_test_lock():
    run_text = (REPO / "requirements" / "run.txt").read_text(encoding="utf-8")
    test_text = (REPO / "requirements" / "test.txt").read_text(encoding="utf-8")
    pins = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*==\S+)", re.M)
    run_pins, test_pins = set(pins.findall(run_text)), set(pins.findall(test_text))
    assert run_pins <= test_pins  # installing one after the other never changes a version
    for extra in ("pytest", "hypothesis", "playwright", "ruff"):
        assert not any(pin.startswith(extra + "==") for pin in run_pins), extra
        assert any(pin.startswith(extra + "==") for pin in test_pins), extra


def make_dry_run(target: str) -> str:
    result = subprocess.run(
        ["make", "--always-make", "--dry-run", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_demo_installs_the_running_lock_only():
    commands = make_dry_run("demo")
    assert "--require-hashes --no-deps -r requirements/run.txt" in commands
    assert "--no-deps -e ." in commands
    assert "requirements/test.txt" not in commands
    assert "--upgrade pip" not in commands  # whatever pip the interpreter has


def test_make_test_and_install_add_the_test_lock():
    for target in ("test", "install"):
        commands = make_dry_run(target)
        assert "-r requirements/run.txt" in commands
        assert "--require-hashes --no-deps -r requirements/test.txt" in commands


def test_license_uses_the_spdx_string_form():
    # The table form makes setuptools print a deprecation warning during every install.
    assert PYPROJECT["project"]["license"] == "LicenseRef-Proprietary"
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", r) for r in requires)
