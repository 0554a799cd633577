"""Shared test configuration."""

import sys
from pathlib import Path

# Make the test helpers (servers.py, ...) importable as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["pytester"]
