"""The benchmarks' pytest configuration: the backend table's markers."""

from __future__ import annotations

import pytest

from tests.backends import register_markers


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
