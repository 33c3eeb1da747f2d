"""The parse floor: a fresh Python that only loads a project's topic files with libyaml, nothing more.

No builder, no validation, no output: `yaml.load` with `CSafeLoader` on each `cards/*.yaml`, the cyclic
garbage collector off (as the build runs). No build that reads every topic file can be faster than this
by much. Run as ``python benchmarks/parse_floor.py PROJECT``.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import yaml


def main(project: Path) -> int:
    """Load every topic file; the number of entries read."""
    gc.disable()
    entries = 0
    for path in sorted((project / "cards").glob("*.yaml")):
        with open(path, "rb") as handle:
            entries += len(yaml.load(handle, Loader=yaml.CSafeLoader)["entries"])
    return entries


if __name__ == "__main__":
    main(Path(sys.argv[1]))
