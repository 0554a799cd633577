"""A missing optional dependency names the line that installs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.parametrize(
    ("blocked", "code", "install"),
    [
        ("hypothesis", "import memmark.core.testing", "memmark-core[testing]"),
        (
            "asyncpg",
            "import memmark.core; memmark.core.connect('postgresql+asyncpg://db/x')",
            "memmark-sql[postgres]",
        ),
        (
            "asyncmy",
            "import memmark.core; memmark.core.connect('mysql://db/x')",
            "memmark-sql[mysql]",
        ),
        (
            "aiosqlite",
            "import memmark.core; memmark.core.connect('sqlite:///x.db')",
            "memmark-sql[sqlite]",
        ),
    ],
)
def test_a_missing_driver_or_extra_names_its_install_line(
    blocked: str, code: str, install: str
) -> None:
    # A fresh interpreter in which the module cannot be imported, as when it is not installed.
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules[{blocked!r}] = None
        from memmark.core import MissingDependencyError
        try:
            {code}
        except MissingDependencyError as exc:
            print(exc)
        else:
            print("no error")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert f"pip install '{install}'" in out
    assert repr(blocked) in out
