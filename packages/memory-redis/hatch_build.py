"""Ship the repository's top-level ``lua/`` folder in the sdist and the wheel.

The scripts live at the repository's top level (one folder for every
script, next to the packages), not inside this package. A static
``force-include`` of ``../../lua`` works from the repository but not from the
sdist, where the folder sits at the sdist's root: building the wheel from the
sdist, as ``uv build`` and ``pip install <sdist>`` do, would not find it. This
hook picks whichever of the two places holds the scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class LuaScriptsHook(BuildHookInterface):
    """Put ``lua/`` at the sdist's root, and at ``memmark/redis/lua`` in the wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add the scripts to the files the build forces in."""
        root = Path(self.root)
        unpacked = root / "lua"  # building from the sdist
        repository = root.parent.parent / "lua"  # building from the repository
        source = unpacked if (unpacked / "_common.lua").is_file() else repository
        if not (source / "_common.lua").is_file():
            raise FileNotFoundError(f"memmark-redis: no Lua scripts in {unpacked} or {repository}")
        if self.target_name == "wheel":
            if version == "editable":
                return  # the editable install reads the repository's lua/ where it is
            build_data["force_include"][str(source)] = "memmark/redis/lua"
        elif self.target_name == "sdist" and source == repository:
            build_data["force_include"][str(source)] = "lua"
