"""The ``memmark`` command line.

``memmark sessions``, ``show``, ``export``, ``import``, ``copy``, ``doctor`` and
``bench``; ``memmark --help`` lists them, ``memmark COMMAND --help`` tells each.
Stores are opened with :func:`memmark.core.connect`, so every installed
backend is served and no other is imported.
"""

from memmark.cli._app import app, main

__all__ = ["app", "main"]
