"""``python -m jejak``: the same command line as the ``jejak`` script."""

from jejak.cli import main

if __name__ == "__main__":
    main()
