"""Mirror the installed package layout with symlinks, for mypy.

The code folders are mapped onto ``jejak.*`` by setuptools (``schemas/`` is
``jejak.schemas``); mypy cannot follow an editable install's import hook, so it
reads this mirror instead: ``OUT/jejak`` -> ``jejak/`` with ``schemas``,
``producers``, ``consumers`` and ``lineage`` linked inside.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("schemas", "producers", "consumers", "lineage")


def main(out: Path) -> None:
    pkg = out / "jejak"
    if out.exists():
        shutil.rmtree(out)
    pkg.mkdir(parents=True)
    for entry in (ROOT / "jejak").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for name in SUBPACKAGES:
        (pkg / name).symlink_to(ROOT / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
