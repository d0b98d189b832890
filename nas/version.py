"""The package version, and the code version stored with every search (no project imports)."""

from __future__ import annotations

import os
import subprocess

__version__ = "0.1.0"


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+g{sha}" if sha else __version__
