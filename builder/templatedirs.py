"""Where templates are looked up: the project's templates/ first, the packaged defaults last.

Apart from render.py so that a build with nothing to render never imports Jinja2; and the stamp of what the note
types are made from (``layout_stamp``), apart from incremental.py so that the process making them ahead (ahead.py)
imports nothing else to take it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path


def packaged_templates() -> Path:
    """The default templates: inside the installed package, or the checkout's templates/ in development."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    inside = here / "templates"
    return inside if inside.is_dir() else here.parent / "templates"


def template_dirs(project_templates: Path | None) -> list[Path]:
    """Folders searched for templates, first match wins."""
    dirs = [project_templates] if project_templates is not None and project_templates.is_dir() else []
    default = packaged_templates()
    if default not in dirs:
        dirs.append(default)
    return dirs


def template_files(folder: Path) -> list[Path]:
    """Every file below a template folder, sorted: what a build's fingerprint covers of it."""
    return sorted(folder / name for name in template_names(str(folder)))


def template_names(folder: str) -> list[str]:
    """The files below a template folder as '/'-separated paths inside it, in no set order, without pathlib.

    Hidden files count; a linked folder is not entered (as ``Path.rglob`` does not), a linked file is followed.
    """
    names = []
    for top, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(top, name)
            if os.path.isfile(path):
                names.append(os.path.relpath(path, folder).replace(os.sep, "/"))
    return names


def layout_stamp(template_dirs: Sequence[Path]) -> str:
    """A hash of everything the note types' card templates and CSS are made from: the builder's own code (its
    version and every module) and every file of the template folders, in their order. No setting of deck.yaml
    enters them (the build stamp adds the config to this)."""
    import hashlib
    from pathlib import Path

    import builder

    digest = hashlib.sha256(f"decks-layouts/v1\0{builder.__version__}\0".encode())
    # The builder's own code: a changed builder rebuilds everything, even at the same version number.
    code = Path(builder.__file__).parent
    _add_files(digest, sorted(code.glob("*.py")), code)
    for index, folder in enumerate(template_dirs):
        digest.update(f"templates\0{index}\0".encode())
        _add_files(digest, template_files(folder), folder)
    return digest.hexdigest()


def _add_files(digest, files: Iterable[Path], base: Path) -> None:
    for path in files:
        data = path.read_bytes()
        digest.update(f"{path.relative_to(base).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
