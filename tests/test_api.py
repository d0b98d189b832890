"""docs/api.md runs as written: its ```python blocks, in order, in one namespace, in an empty folder.

Also `nas.leaderboard`'s own contract: dicts, a DataFrame with as_frame=True, and a clear
ImportError naming `pip install pandas` when pandas is missing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_doc_has_the_example_blocks():
    blocks = python_blocks(DOC.read_text())
    joined = "\n".join(blocks)
    assert len(blocks) >= 3
    for call in ("search(", "nas.leaderboard(", "nas.export(", "nas.load("):
        assert call in joined, call
    assert "docs/api.md" in (ROOT / "README.md").read_text()  # linked from the README


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAS_DB", raising=False)
    return tmp_path


def test_docs_api_md_runs(in_tmp, capsys):
    namespace: dict = {"__name__": "__docs_api__"}
    for i, block in enumerate(python_blocks(DOC.read_text())):
        exec(compile(block, f"docs/api.md[python block {i + 1}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert (in_tmp / "exported" / "model.py").is_file()
    assert (in_tmp / "api-demo.db").is_file()
    rows = namespace["rows"]
    assert {"rank", "search", "trial", "hash", "val_accuracy", "params", "flops"} <= set(rows[0])
    assert all(r["search"] == "demo" for r in rows)
    # the DataFrame block ran with pandas (installed in the dev environment) and has the same rows
    frame = namespace.get("frame")
    if frame is not None:
        assert list(frame["trial"]) == [r["trial"] for r in namespace["nas"].leaderboard(db=namespace["db"])]
    assert "predicted" in namespace and out


def test_leaderboard_without_pandas_names_the_install(in_tmp, monkeypatch):
    import nas

    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install pandas"):
        nas.leaderboard(db=f"sqlite:///{in_tmp / 'none.db'}", as_frame=True)


def test_leaderboard_reads_nas_db_when_no_db_is_given(in_tmp, monkeypatch):
    import nas
    from db import DatabaseError

    monkeypatch.setenv("NAS_DB", f"sqlite:///{in_tmp / 'env.db'}")
    with pytest.raises(DatabaseError, match="env.db"):  # the URL came from NAS_DB
        nas.leaderboard(search="nope")
