"""app.deadlines is pure Python: no Flask, nothing else from ``app``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "deadlines"

# Imports ``app.deadlines`` with ``app`` as a bare namespace (its __init__, which builds the Flask
# app, is not run) and with Flask made unimportable.
PROBE = """
import importlib.abc, sys, types

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "flask" or name.startswith("flask."):
            raise ImportError("flask is not allowed in app.deadlines")
        return None

sys.meta_path.insert(0, Refuse())
app = types.ModuleType("app")
app.__path__ = [{app_dir!r}]
sys.modules["app"] = app

import app.deadlines
from datetime import date
cal = app.deadlines.calendar_for("MA")
assert cal.add_working_days(date(2026, 11, 17), 1) == date(2026, 11, 19)
loaded = sorted(m for m in sys.modules if m == "app" or m.startswith("app."))
print(",".join(loaded))
"""


def test_imports_only_the_standard_library_and_its_two_dependencies() -> None:
    allowed = {"__future__", "collections", "dataclasses", "datetime", "functools", "types"}
    allowed |= {"typing", "holidays", "hijridate"}
    for source in PACKAGE.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the package
                    continue
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{source.name} imports {roots - allowed}"


def test_loads_without_flask_or_the_rest_of_app() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE.format(app_dir=str(PACKAGE.parent))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip().split(",")
    assert all(m == "app" or m.startswith("app.deadlines") for m in loaded), loaded
