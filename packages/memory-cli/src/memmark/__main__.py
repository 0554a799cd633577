"""``python -m memmark``: the ``memmark`` command line."""

from memmark.cli import main

if __name__ == "__main__":
    main()
