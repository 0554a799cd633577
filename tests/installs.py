"""Building the packages and installing them into clean virtual environments, with uv.

The packaging tests build wheels or sdists into a folder of their own, make
a virtual environment that sees nothing of the workspace, install what they
built into it, and run code there from a folder away from the checkout. uv
does the three steps (the workspace is built with it): its resolver and
cache make an install take seconds where ``pip`` in a fresh ``venv`` takes
most of a minute, and what is checked (the packages' metadata, files and
dependencies) is the same. The sdists are installed with pip, once, as most
users install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def uv() -> str:
    """Return the ``uv`` executable; fail the test when it is not on ``PATH``."""
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is not on PATH: the workspace is built with it")
    return found


def run(
    *args: str | Path, cwd: Path = ROOT, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command; with ``check``, fail with its output unless it exits 0."""
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def build(dist: Path, *packages: str, kind: str = "--wheel") -> None:
    """Build ``packages`` of the workspace (``kind``: ``--wheel`` or ``--sdist``) into ``dist``."""
    for package in packages:
        run(uv(), "build", "--package", package, kind, "-o", dist)


def clean_venv(folder: Path, *, pip: bool = False) -> Path:
    """Make a virtual environment in ``folder`` on this interpreter; return its ``python``.

    With ``pip``, the standard library's ``venv`` makes it, pip included.
    """
    if pip:
        run(sys.executable, "-m", "venv", folder)
    else:
        run(uv(), "venv", "--quiet", "--python", sys.executable, folder)
    return folder / "bin" / "python"


def install(
    python: Path, *requirements: str | Path, find_links: Path | None = None, pip: bool = False
) -> None:
    """Install ``requirements`` into the environment of ``python``.

    Args:
        python: The environment's interpreter (see :func:`clean_venv`).
        requirements: Names, ``name @ url`` lines, or built files.
        find_links: A folder of built packages to resolve names from,
            besides the package index.
        pip: Install with the environment's own pip, as most users do,
            instead of uv.
    """
    links = [] if find_links is None else ["--find-links", find_links]
    if pip:
        run(python, "-m", "pip", "install", "-q", *links, *requirements)
    else:
        run(uv(), "pip", "install", "--quiet", "--python", python, *links, *requirements)
