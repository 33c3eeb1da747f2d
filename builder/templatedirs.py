"""Where templates are looked up: the project's templates/ first, the packaged defaults last.

Apart from render.py so that a build with nothing to render never imports Jinja2.
"""

from __future__ import annotations

from pathlib import Path


def packaged_templates() -> Path:
    """The default templates: inside the installed package, or the checkout's templates/ in development."""
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
