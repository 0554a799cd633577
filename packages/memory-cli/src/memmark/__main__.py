"""``python -m memmark``: the ``memmark`` command line."""

from memmark.cli import main

main()
