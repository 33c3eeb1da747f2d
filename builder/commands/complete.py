"""Shell completion of topic names and tags, shared by the commands that take them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from builder.config import Config


def completion_config(ctx: click.Context) -> Config:
    from pathlib import Path

    from builder.config import find_root, load_config

    project = ctx.find_root().params.get("project")
    return load_config(find_root(project or Path.cwd()))


def complete_topics(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Topic file names, and those without their number where that names one topic, for shell completion."""
    from builder.load import topic_files
    from builder.topics import short_name

    try:
        slugs = [p.stem for p in topic_files(completion_config(ctx))]
    except Exception:  # noqa: BLE001 - completion offers nothing rather than a traceback in the shell
        return []
    shorts = [short_name(s) for s in slugs]
    names = slugs + [s for s in shorts if s not in slugs and shorts.count(s) == 1]
    return [name for name in names if name.startswith(incomplete)]


def complete_tags(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Tags used by the project's entries (read even from files with problems), for shell completion."""
    from builder.load import collect, topic_files

    try:
        config = completion_config(ctx)
        topics, _ = collect(topic_files(config), config)
    except Exception:  # noqa: BLE001 - completion offers nothing rather than a traceback in the shell
        return []
    tags = {tag for topic in topics for tag in topic.tags}
    tags |= {tag for topic in topics for entry in topic.entries for tag in entry.tags}
    return sorted(tag for tag in tags if tag.startswith(incomplete))
