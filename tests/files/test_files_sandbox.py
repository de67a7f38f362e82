"""The sandbox contract: limits hold, failures are classified, the child stays isolated."""

from __future__ import annotations

import ast
import signal
import time
from pathlib import Path

import pytest

import app.files
from app.files import sandbox
from app.files.sandbox import SandboxError, run_sandboxed

PACKAGE_DIR = Path(app.files.__file__).parent
ALLOWED_IMPORTS = {"PIL", "pypdf", "pypdfium2", "__future__"}


def test_child_is_isolated_and_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIWAN_SECRET_KEY", "must not leak")
    result = run_sandboxed("probe", {"mode": "ok"}, memory_mb=512)
    assert "flask" not in result["modules"] and "app" not in result["modules"]
    assert result["environment"] == ["LC_ALL", "PATH"]
    assert str(PACKAGE_DIR) not in result["sys_path"]
    assert result["rlimit_as"] == 512 * 1024 * 1024
    assert result["rlimit_cpu"] == 20


@pytest.mark.parametrize("mode", ["spin", "sleep"])
def test_timeout_kills_the_child(mode: str) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as info:
        run_sandboxed("probe", {"mode": mode}, timeout_s=1)
    assert info.value.reason == "timeout"
    assert time.monotonic() - started < 3


def test_memory_limit() -> None:
    with pytest.raises(SandboxError) as info:
        run_sandboxed("probe", {"mode": "alloc", "mb": 1024}, memory_mb=256, timeout_s=10)
    assert info.value.reason == "memory"


def test_allocation_within_the_limit_succeeds() -> None:
    assert run_sandboxed("probe", {"mode": "alloc", "mb": 64}, memory_mb=256)["allocated"] > 0


def test_crash_is_reported() -> None:
    with pytest.raises(SandboxError) as info:
        run_sandboxed("probe", {"mode": "abort"})
    assert info.value.reason == "crashed"
    assert "SIGABRT" in info.value.detail


def test_exception_in_the_operation_is_a_failure() -> None:
    with pytest.raises(SandboxError) as info:
        run_sandboxed("probe", {"mode": "fail"})
    assert info.value.reason == "failed"
    assert "probe failure requested" in info.value.detail


def test_missing_input_file_is_a_failure(tmp_path: Path) -> None:
    args = {"src": str(tmp_path / "nope.png"), "dest": str(tmp_path / "out.pdf")}
    with pytest.raises(SandboxError) as info:
        run_sandboxed("image_to_pdf", args)
    assert info.value.reason == "failed"


def test_unknown_operation_is_refused_before_spawning() -> None:
    with pytest.raises(ValueError):
        run_sandboxed("os.system", {})
    with pytest.raises(ValueError):
        SandboxError("bored")


@pytest.mark.parametrize(
    ("returncode", "stdout", "reason"),
    [
        (-signal.SIGXCPU, b"", "timeout"),
        (-signal.SIGSEGV, b"", "crashed"),
        (sandbox.EXIT_MEMORY, b"", "memory"),
        (1, b"Traceback...", "crashed"),
        (0, b'{"ok": true, "result": [1]}', "crashed"),
        (1, b'{"ok": false, "error": "ValueError: x"}', "failed"),
    ],
)
def test_exit_status_classification(returncode: int, stdout: bytes, reason: str) -> None:
    with pytest.raises(SandboxError) as info:
        sandbox._interpret("op", returncode, stdout, "")
    assert info.value.reason == reason


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_package_imports_no_flask_and_nothing_else_from_app(module: Path) -> None:
    """app.files must stay pure: stdlib, the parsing libraries and its own modules only."""
    import sys

    third_party = _imports(module) - set(sys.stdlib_module_names)
    assert third_party <= ALLOWED_IMPORTS, third_party
