"""The package layout: the import rule (scripts/import_graph.py), light read commands, package docs.

Everything that could load torch runs in a fresh subprocess, so this process's modules say nothing.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = ("nas/ir", "nas/search", "nas/final", "nas/viz", "nas/cli", "db", "workers", "search_spaces")


def _import_graph():
    path = ROOT / "scripts" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


import_graph = _import_graph()


def _python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


# ---- the import rule ---------------------------------------------------------------------------
def test_imports_follow_the_layout():
    found = import_graph.violations()
    assert found == [], "imports that break the layout (python scripts/import_graph.py --check):\n" + "\n".join(found)


def test_the_rule_is_acyclic_and_covers_every_package():
    assert set(import_graph.ALLOWED) == set(import_graph.PACKAGES)
    for pkg, allowed in import_graph.ALLOWED.items():
        assert pkg not in allowed and allowed <= set(import_graph.PACKAGES), pkg
    assert import_graph.rule_cycles() == []
    assert not any("nas.cli" in allowed for allowed in import_graph.ALLOWED.values())


def test_the_check_catches_lazy_type_checking_facade_and_cyclic_imports(tmp_path):
    files = {
        "nas/__init__.py": '_LAZY = {"run_search": "nas.search.driver"}\n',
        "nas/version.py": "",
        "nas/helpers.py": "",
        "nas/ir/__init__.py": "",
        "nas/search/__init__.py": "",
        "nas/search/config.py": "",
        "nas/search/driver.py": "import db\n",
        "nas/final/__init__.py": "from nas.search import config\nfrom nas.search.driver import run_search\n",
        "nas/viz/__init__.py": "",
        "nas/cli/__init__.py": "",
        "db/__init__.py": "def f():\n    from nas import run_search\n",
        "workers/__init__.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import search_spaces\n",
        "workers/sub/__init__.py": "from .. import records\n",
        "workers/records.py": "",
        "search_spaces/__init__.py": "import importlib\n\nimportlib.import_module('nas.cli')\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert sorted(import_graph.violations(tmp_path)) == sorted(
        [
            "nas/helpers.py:1: module nas.helpers is in no package of the layout",
            "nas/final/__init__.py:2: nas.final imports nas.search.driver (import-time): "
            "nas.final may import only nas.search.config of nas.search",
            "db/__init__.py:2: db imports nas.search.driver (lazy): db may not import nas.search (may import: nas.ir)",
            "workers/__init__.py:4: workers imports search_spaces (TYPE_CHECKING): "
            "workers may not import search_spaces (may import: nas.ir, nas)",
            "search_spaces/__init__.py:3: search_spaces imports nas.cli (import-time): "
            "search_spaces may not import nas.cli (may import: nas.ir, nas)",
            "db/__init__.py:2: db imports nas.search.driver (lazy): "
            "db -> nas.search is part of a cycle between packages (nas.search <-> db)",
            "nas/search/driver.py:1: nas.search.driver imports db (import-time): "
            "nas.search -> db is part of a cycle between packages (nas.search <-> db)",
        ]
    )


def test_mermaid_lists_every_package():
    text = import_graph.mermaid()
    assert text.startswith("graph TD\n")
    for pkg in import_graph.PACKAGES:
        assert f'["{import_graph._label(pkg)}"]' in text


# ---- the read commands stay light --------------------------------------------------------------
_RUN_CLI = textwrap.dedent("""
    import contextlib, io, json, sys
    import nas.cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            rc = nas.cli.main(sys.argv[1:])
        except SystemExit as e:
            rc = e.code
    print(json.dumps({"rc": rc, "out": out.getvalue(), "torch": "torch" in sys.modules, "ray": "ray" in sys.modules}))
""")


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory) -> str:
    """A database with one finished two-trial search, made by the real CLI in another process."""
    url = f"sqlite:///{tmp_path_factory.mktemp('layout') / 'nas.db'}"
    argv = [
        *("search", "--space", "skipdag", "--dataset", "synthetic", "--trials", "2", "--executor", "local"),
        *("--db", url, "--subset", "200", "--epochs", "1", "--batch-size", "64", "--save-weights", "none"),
        *("--space-option", "widths=[[8],[16]]", "--space-option", "depth=[1,1]", "--no-progress"),
    ]
    done = subprocess.run([sys.executable, "-m", "nas", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return url


@pytest.mark.parametrize(
    "argv, shows",
    [
        (["--help"], "leaderboard"),
        (["leaderboard", "--db", "{db}"], "skipdag-synthetic"),
        (["searches", "--db", "{db}"], "skipdag-synthetic"),
        (["show", "0", "--db", "{db}"], "architecture"),
    ],
    ids=["help", "leaderboard", "searches", "show"],
)
def test_read_commands_load_neither_torch_nor_ray(argv, shows, request):
    if any("{db}" in a for a in argv):
        url = request.getfixturevalue("finished_db")
        argv = [a.replace("{db}", url) for a in argv]
    done = _python(_RUN_CLI, *argv)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, (result, done.stderr)
    assert shows in result["out"]
    assert not result["torch"], f"nas {' '.join(argv)} imported torch"
    assert not result["ray"], f"nas {' '.join(argv)} imported ray"


def test_every_read_command_is_checked():
    """A command added to READ_COMMANDS needs its case in the test above."""
    from nas.cli._commands import READ_COMMANDS

    assert set(READ_COMMANDS) == {"leaderboard", "searches", "show"}


def test_search_config_loads_no_torch():
    code = "import sys; from nas.search.config import SearchConfig; SearchConfig(); print('torch' in sys.modules)"
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---- the layout is documented ------------------------------------------------------------------
@pytest.mark.parametrize("package", PACKAGE_DIRS)
def test_package_docstring_says_what_lives_there_and_what_it_may_import(package):
    init = ROOT / package / "__init__.py"
    assert init.is_file(), f"{package} has no __init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    lines = doc.splitlines()
    assert any(line.startswith("Lives here:") for line in lines), f"{init}: no line starting 'Lives here:'"
    assert any(line.startswith("May import:") for line in lines), f"{init}: no line starting 'May import:'"


def test_architecture_doc_names_every_package():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for package in PACKAGE_DIRS:
        name = package.replace("/", ".")
        assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text), f"docs/architecture.md never names {name}"
