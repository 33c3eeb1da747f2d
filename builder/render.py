"""Render entries to note-field HTML with Jinja2.

Templates are looked up in an ordered list of folders: the project's own
``templates/`` first, the packaged defaults last, so a project overrides them file by
file. Card text is data passed to templates and is never itself rendered as a template.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from builder.errors import Problem, ProblemsError
from builder.kinds import KINDS, Kind
from builder.model import Entry, Topic
from builder.templatedirs import packaged_templates, template_dirs  # noqa: F401 (imported from here too)

STYLESHEET = "style.css"
_BR = Markup("<br>")


def _finalize(value: object) -> object:
    # Plain text becomes HTML: escaped, with its line breaks kept.
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        value = value.rstrip("\n")
        return escape(value).replace("\n", _BR) if "\n" in value else escape(value)
    return value


class _Environment(jinja2.Environment):
    def make_globals(self, d):
        # A plain dict, not Jinja2's default ChainMap: every render copies a template's globals, and
        # copying a ChainMap key by key was half the render time. Ours never change after start-up.
        return {**self.globals, **(d or {})}


class Renderer:
    """Turns entries into the HTML of their note fields."""

    def __init__(self, dirs: Iterable[Path], display: Callable[[Path], str] = str):
        self.dirs = [Path(d) for d in dirs]
        self._display = display
        self.env = _Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            # A build reads each template once: checking its mtime at every include costs a stat per card.
            auto_reload=False,
            # Every template stays compiled for the whole build, looked up in a plain dict at each include
            # rather than a locked LRU cache.
            cache_size=-1,
        )
        self._templates: dict[str, jinja2.Template] = {}

    def stylesheet(self) -> str:
        """The CSS shared by every note type (read as is, not rendered)."""
        try:
            source, _, _ = self.env.loader.get_source(self.env, STYLESHEET)
        except jinja2.TemplateNotFound as exc:
            raise ProblemsError([self._missing(STYLESHEET)], "nothing was written") from exc
        return source

    def render_all(self, topics: Iterable[Topic]) -> dict[str, tuple[str, ...]]:
        """Note field values of every entry, by entry id; template problems raise ProblemsError."""
        problems: list[Problem] = []
        out: dict[str, tuple[str, ...]] = {}
        for topic in topics:
            problems.extend(self.render_topic(topic, out))
        if problems:
            raise ProblemsError(problems)
        return out

    def render_topic(self, topic: Topic, out: dict[str, tuple[str, ...]]) -> list[Problem]:
        """Add the note field values of a topic's entries to ``out``; returns the template problems."""
        problems: list[Problem] = []
        for entry in topic.entries:
            try:
                out[entry.id] = self.render(topic, entry)
            except _TemplateProblem as exc:
                problems.append(exc.problem)
        return problems

    def warm(self) -> None:
        """Compile every note-field template now; a broken one is reported when an entry needs it."""
        for kind in KINDS.values():
            for field in kind.note_fields:
                with contextlib.suppress(_TemplateProblem):
                    self._template(kind.template_name(field))

    def render(self, topic: Topic, entry: Entry) -> tuple[str, ...]:
        """The HTML of each note field of one entry, in the note type's field order."""
        kind = KINDS[entry.kind]
        context = self._context(topic, entry, kind)
        fields = []
        for field in kind.note_fields:
            name = kind.template_name(field)
            template = self._template(name)
            # What Template.render does, less copying the variables twice for each field: the
            # context shares them (a template's own {% set %} writes to its context, not to them).
            try:
                try:
                    html = self.env.concat(template.root_render_func(template.new_context(context, shared=True)))
                except Exception:
                    # Rewrites the traceback so that template frames carry the template's file and line.
                    self.env.handle_exception()
            except jinja2.TemplateError as exc:
                raise _TemplateProblem(self._runtime_problem(exc, name)) from exc
            fields.append(html.strip())
        return tuple(fields)

    def _context(self, topic: Topic, entry: Entry, kind: Kind) -> dict[str, object]:
        # Jinja2's globals first, as Template.render would merge them.
        context: dict[str, object] = {**self.env.globals}
        values = entry.values
        for key in kind.key_names:
            context[key] = values.get(key)
        context.update(
            id=entry.id,
            kind=entry.kind,
            tags=list(entry.tags),
            source=entry.source,
            topic=topic.title,
        )
        return context

    def _template(self, name: str) -> jinja2.Template:
        template = self._templates.get(name)
        if template is None:
            try:
                template = self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                path = self._display(Path(exc.filename)) if exc.filename else name
                raise _TemplateProblem(
                    Problem(path, exc.lineno, None, f"template syntax error: {exc.message}")
                ) from exc
            except jinja2.TemplateNotFound as exc:
                raise _TemplateProblem(self._missing(name)) from exc
            self._templates[name] = template
        return template

    def _missing(self, name: str) -> Problem:
        where = ", ".join(self._display(d) for d in self.dirs)
        return Problem(name, None, None, f"template not found (looked in {where})")

    def _runtime_problem(self, exc: Exception, name: str) -> Problem:
        # Jinja2 rewrites tracebacks so that template frames carry the template's file and line.
        files = {str(d / name) for d in self.dirs}
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in files or frame.filename.endswith((".html", ".css", ".j2")):
                return Problem(self._display(Path(frame.filename)), frame.lineno, None, f"template error: {exc}")
        return Problem(name, None, None, f"template error: {exc}")


class _TemplateProblem(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem
