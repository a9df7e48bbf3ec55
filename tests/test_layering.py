"""The layering: import-linter's contracts (pyproject.toml ``[tool.importlinter]``) hold, and the sans-I/O layers
load no thread, socket or selector machinery (the root package imports the API lazily)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
IO_MODULES = ("threading", "socket", "selectors")


def _imported_by(statement: str) -> dict[str, list[str]]:
    """Run ``statement`` in a fresh interpreter without site (``-S``: site-packages' .pth files import threading
    themselves) and tell which of IO_MODULES and which lwipy modules it loaded."""
    code = (f"import json, sys; sys.path.insert(0, {str(SRC)!r}); {statement}; "
            f"print(json.dumps({{'io': [m for m in {IO_MODULES!r} if m in sys.modules], "
            "'lwipy': sorted(m for m in sys.modules if m.startswith('lwipy'))}))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_the_interpreter_without_site_loads_none_of_them_itself():
    assert _imported_by("pass") == {"io": [], "lwipy": []}  # so the checks below can fail


def test_import_lwipy_wire_loads_no_threading_socket_or_selectors():
    got = _imported_by("import lwipy.wire, pkgutil, importlib; "
                       "[importlib.import_module('lwipy.wire.' + m.name) for m in pkgutil.iter_modules(lwipy.wire.__path__)]")
    assert got["io"] == []
    assert "lwipy.wire.ipv6" in got["lwipy"] and "lwipy.wire.tcp" in got["lwipy"]
    assert {m.split(".")[1] for m in got["lwipy"] if "." in m} == {"wire", "errors"}


def test_import_lwipy_core_and_the_root_names_load_no_threading_socket_or_selectors():
    got = _imported_by("import lwipy.core, lwipy.config, lwipy.errors, lwipy.stats; import lwipy; "
                       "lwipy.Config; lwipy.Malformed")
    assert got["io"] == []
    assert not [m for m in got["lwipy"] if m.startswith(("lwipy.api", "lwipy.apps", "lwipy.netif"))]


def test_the_whole_core_loads_no_socket_selectors_or_api():
    # core.stack logs through the stdlib's logging, which imports threading (for its locks); no thread is started
    got = _imported_by("import lwipy.core, pkgutil, importlib; "
                       "[importlib.import_module(m.name) for m in pkgutil.walk_packages(lwipy.core.__path__, 'lwipy.core.')]; "
                       "import lwipy; lwipy.Stack")
    assert "lwipy.core.stack" in got["lwipy"] and "lwipy.core.tcp.pcb" in got["lwipy"]
    assert [m for m in got["io"] if m != "threading"] == []
    assert not [m for m in got["lwipy"] if m.startswith(("lwipy.api", "lwipy.apps", "lwipy.netif"))]


def test_the_root_package_still_gives_every_public_name():
    got = _imported_by("import lwipy; from lwipy import Config, Stack, Netif, Stats, patch, LwipError, ConfigError, "
                       "ChecksumError, Malformed; assert lwipy.patch is patch and lwipy.Stack is Stack; "
                       "assert set(lwipy.__all__) <= set(dir(lwipy))")
    assert "lwipy.api.patch" in got["lwipy"] and "socket" in got["io"]  # patch is the API: importing it loads it
    got = _imported_by("import lwipy; lwipy.api.SocketApi; lwipy.core.stack; lwipy.wire.ipv4.Ipv4Header; "
                       "lwipy.netif.VirtualHub")  # the subpackages, as when the root imported the API eagerly
    assert {"lwipy.api.sockets", "lwipy.core.stack", "lwipy.wire.ipv4", "lwipy.netif.virtual"} <= set(got["lwipy"])
    with pytest.raises(AttributeError):
        import lwipy
        lwipy.no_such_name  # noqa: B018


def test_import_linter_contracts_hold():
    if importlib.util.find_spec("importlinter") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but import-linter is not installed (pip install -e '.[test]')", pytrace=False)
        pytest.skip("import-linter is not installed")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                          "sys.argv[0] = 'lint-imports'; c()", "--no-cache", "--no-logo"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout and "KEPT" in run.stdout
