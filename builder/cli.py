"""The ``decks`` command line: parses options, calls the core, reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder import __version__
from builder.errors import echo
from builder.kinds import FLAG, KINDS

# Each command imports what only it uses, when it runs: `decks --version` and `--help` load only Click
# and the entry kinds (add's options are made from them), and `decks build` with nothing to rebuild
# does not pay for the checks, the preview, Jinja2 or genanki.
if TYPE_CHECKING:
    from builder.config import Config
    from builder.errors import DecksError
    from builder.preview import PreviewResult


class Context:
    """Finds and loads the project on first use, so `--help` works anywhere."""

    def __init__(self, project: Path | None, quiet: bool = False):
        self._project = project
        self._config: Config | None = None
        self.quiet = quiet

    @property
    def config(self) -> Config:
        if self._config is None:
            from builder.config import find_root, load_config

            self._config = load_config(find_root(self._project or Path.cwd()))
        return self._config

    def say(self, message: str) -> None:
        """Report progress on stdout, unless --quiet."""
        if not self.quiet:
            echo(message)


def _completion_config(ctx: click.Context) -> Config:
    from builder.config import find_root, load_config

    project = ctx.find_root().params.get("project")
    return load_config(find_root(project or Path.cwd()))


def _complete_topics(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Topic file names, and those without their number where that names one topic, for shell completion."""
    from builder.load import topic_files
    from builder.topics import short_name

    try:
        slugs = [p.stem for p in topic_files(_completion_config(ctx))]
    except Exception:  # noqa: BLE001 - completion offers nothing rather than a traceback in the shell
        return []
    shorts = [short_name(s) for s in slugs]
    names = slugs + [s for s in shorts if s not in slugs and shorts.count(s) == 1]
    return [name for name in names if name.startswith(incomplete)]


def _complete_tags(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Tags used by the project's entries (read even from files with problems), for shell completion."""
    from builder.load import collect, topic_files

    try:
        config = _completion_config(ctx)
        topics, _ = collect(topic_files(config), config)
    except Exception:  # noqa: BLE001 - completion offers nothing rather than a traceback in the shell
        return []
    tags = {tag for topic in topics for tag in topic.tags}
    tags |= {tag for topic in topics for entry in topic.entries for tag in entry.tags}
    return sorted(tag for tag in tags if tag.startswith(incomplete))


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  decks build                     one .apkg per topic into output/
  decks build --single            one .apkg with every topic as a subdeck
  decks build --topic deepseek    only cards/01-deepseek.yaml (the number may be left out)
  decks build --watch             rebuild on every save
  decks preview --open            see every card in the browser
  decks check                     find mistakes and weak cards, write nothing
  decks add 01-deepseek           add an entry, asking for its fields
  decks -C ~/my-deck build        a project in another folder
  decks init ~/my-deck            start a new project

Shell completion for bash, zsh and fish: see docs/cli.md.
""",
)
@click.version_option(__version__, "-V", "--version", prog_name="decks")
@click.option(
    "-C",
    "--project",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder (holds deck.yaml). Default: the current folder or the nearest one above it.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, quiet: bool) -> None:
    """Build Anki decks from YAML topic files: one deck per topic, ready to import."""
    ctx.obj = Context(project, quiet)


@cli.command("build")
@click.option("--single", is_flag=True, help="Write one .apkg holding every topic as a subdeck.")
@click.option(
    "-t",
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    shell_complete=_complete_topics,
    help="Build only this topic: its file name without .yaml (the number may be left out) or its title. Repeatable.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .apkg files. Default: output/ in the project.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (same as `decks -q build`).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes that read and render topics; 0: two when there is enough to do and a core is idle.",
)
@click.option("--timings", is_flag=True, help="Print on stderr how long each stage of the build took.")
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Build, then build again on every save of topic files, templates, media or deck.yaml, until Ctrl+C.",
)
@click.option(
    "--new-identity",
    is_flag=True,
    help=(
        "Build even though entry ids or the project name changed since the last build, giving those "
        "notes a new identity in Anki. You lose their link to the old notes: Anki adds them as new "
        "notes with no review history, and the old notes stay in your collection beside them. "
        "To keep a renamed entry's history, give it `was: OLD-ID` instead."
    ),
)
@click.pass_obj
def build_command(
    obj: Context,
    single: bool,
    topics: tuple[str, ...],
    output: Path | None,
    quiet: bool,
    jobs: int,
    timings: bool,
    watch: bool,
    new_identity: bool,
) -> None:
    """Build the decks: validate every topic file, then write .apkg files.

    Every problem in every file is reported as FILE:LINE:COL: message, and
    nothing is written while any remains. Rebuilding unchanged cards gives
    byte-identical files; edited cards update their notes in place when
    re-imported into Anki, keeping review history. A progress bar shows on
    stderr when it is a terminal.

    \b
    Examples:
      decks build
      decks build --single -o ~/Desktop
      decks build -t 01-deepseek -t 05-large-action-model
      decks build --quiet
      decks build --watch           rebuild on every save; errors show as they appear
    """
    obj.quiet = obj.quiet or quiet
    options = {
        "topics": topics,
        "single": single,
        "output": output,
        "jobs": jobs,
        "timings": timings,
        "new_identity": new_identity,
    }
    if watch:
        _watch_builds(obj, options)
        return
    _build_once(obj, obj.config, **options)


def _watch_builds(obj: Context, options: dict) -> None:
    """Build, then again after each save; a failed build is reported and the last good decks stay."""
    import threading

    from builder.config import load_config
    from builder.errors import DecksError
    from builder.watch import changes, source_folders

    config = obj.config

    def attempt(first: bool = False) -> None:
        nonlocal config
        try:
            # deck.yaml may have changed: it is read again for each build.
            config = load_config(config.root)
            _build_once(obj, config, **options)
        except DecksError as exc:
            if first and exc.exit_code == 2:
                raise  # a mistake on the command line: watching would repeat it on every save
            exc.show()

    def started() -> None:
        attempt(first=True)
        folders = ", ".join(f"{config.rel(p)}/" for p in source_folders(config))
        echo(f"Watching {folders} and deck.yaml; Ctrl+C stops.", err=True)

    try:
        for changed in changes(config, threading.Event(), started=started):
            shown = ", ".join(config.rel(p) for p in changed[:3]) + (" ..." if len(changed) > 3 else "")
            echo(f"Changed: {shown}", err=True)
            attempt()
    except KeyboardInterrupt:
        echo("Stopped.", err=True)


def _build_once(
    obj: Context,
    config: Config,
    *,
    topics: tuple[str, ...],
    single: bool,
    output: Path | None,
    jobs: int,
    timings: bool,
    new_identity: bool = False,
) -> None:
    import contextlib

    from builder.build import build

    terminal = None if obj.quiet else _terminal_stderr()
    with contextlib.ExitStack() as stack:
        track = None
        if terminal is not None:

            def track(packages):
                return stack.enter_context(
                    click.progressbar(
                        packages,
                        label="Building",
                        file=terminal,
                        item_show_func=lambda package: package.path.name if package else None,
                    )
                )

        result = build(
            config,
            topics=topics,
            single=single,
            output_dir=output,
            progress=track,
            jobs=jobs,
            new_identity=new_identity,
        )
    where = config.rel(result.output_dir)
    obj.say(
        f"Built {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {where}/ "
        f"({len(result.written)} written, {len(result.unchanged)} unchanged)"
    )
    for path in result.written:
        obj.say(f"  wrote {config.rel(path)}")
    for path in result.removed:
        obj.say(f"  removed {config.rel(path)} (its topic is gone)")
    # Each tells of something Anki will not do on import; --quiet keeps to errors only.
    for notice in [] if obj.quiet else result.notices:
        echo(f"note: {notice}", err=True)
    if timings:
        stages = ", ".join(f"{stage} {seconds:.3f}" for stage, seconds in result.timings.items())
        echo(f"Timings (s): {stages}; {result.read} topic files read", err=True)


def _terminal_stderr():
    """stderr when it is a terminal (where progress bars go), else None."""
    return sys.stderr if sys.stderr.isatty() else None


@cli.command("check")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.pass_obj
def check_command(obj: Context, strict: bool) -> None:
    """Check the project without writing anything: every validation of the build, then quality rules.

    Each finding is one line, FILE:LINE:COL: error|warning: message [rule].
    Exit 0 when there are no errors (and, with --strict, no warnings), else 1.
    Rules are set per project in deck.yaml (`rules: {missing-source: off}`)
    and per entry with `allow: [rule, ...]`. The rules are listed in docs/cli.md.

    \b
    Examples:
      decks check
      decks check --strict          in CI: warnings fail too
      decks -q check                print errors only
    """
    from builder.check import check, config_report
    from builder.errors import ProblemsError

    try:
        config = obj.config
    except ProblemsError as exc:
        # A broken deck.yaml is reported like any other finding, so editors and CI read one format.
        report = config_report(exc.problems)
    else:
        report = check(config)
    for finding in report.findings:
        if finding.severity == "error" or not obj.quiet:
            echo(str(finding))
    obj.say(report.summary())
    if report.errors or (strict and report.warnings):
        sys.exit(1)


def _entry_options(function):
    """One option per key of any kind, so that every field can be given on the command line."""
    keys: dict[str, dict[str, list[str]]] = {}
    types: dict[str, str] = {}
    for kind in KINDS.values():
        for key in kind.keys:
            keys.setdefault(key.name, {}).setdefault(key.help, []).append(kind.name)
            types[key.name] = key.type
    for name, helps in reversed(keys.items()):
        # One meaning per kind group: "--answer: the claim (claim); the answer (qa)".
        text = "; ".join(f"{meaning} ({', '.join(kinds)})" for meaning, kinds in helps.items())
        text = text[:1].upper() + text[1:] + "."
        if types[name] == FLAG:
            function = click.option(f"--{name}/--no-{name}", default=None, help=text)(function)
        else:
            function = click.option(f"--{name}", metavar="TEXT", help=text)(function)
    return function


def _interactive() -> bool:
    return sys.stdin.isatty()


@cli.command("add")
@click.argument("topic", shell_complete=_complete_topics)
@click.option("-k", "--kind", type=click.Choice(list(KINDS)), help="Entry kind.")
@click.option("--id", "entry_id", metavar="ID", help="The entry's id. Default: made from the question or term.")
@_entry_options
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    shell_complete=_complete_tags,
    help="A tag for this entry. Repeatable.",
)
@click.option("--source", metavar="TEXT", help="Where the fact comes from (default: the topic's source).")
@click.option(
    "--allow", "allow", multiple=True, metavar="RULE", help="A quality rule this entry is an exception to. Repeatable."
)
@click.option(
    "--from",
    "from_file",
    type=click.File("rb"),
    metavar="FILE.yaml",
    help="Add every entry of a YAML list (or of a topic-like file's entries); - reads stdin.",
)
@click.pass_obj
def add_command(
    obj: Context,
    topic: str,
    kind: str | None,
    entry_id: str | None,
    tags: tuple[str, ...],
    source: str | None,
    allow: tuple[str, ...],
    from_file,
    **values,
) -> None:
    """Add entries to a topic file, keeping the rest of it byte for byte.

    TOPIC is a topic's file name without .yaml (the number may be left out),
    its title, or a path to it. Fields not
    given as options are asked for when stdin is a terminal; otherwise a
    missing required field is an error. The id is made from the question or
    term unless --id is given. The entry and the whole file are checked
    before the file is written, in one atomic step.

    \b
    Examples:
      decks add 01-deepseek --kind qa --question "Who founded Adept?" --answer "David Luan"
      decks add 01-deepseek --kind concept --term "Mixture of experts" --definition "..." --reverse
      decks add 01-deepseek --kind cloze --text "Founded in {{c1::2022}}." --tag history
      decks add 01-deepseek                  asks for the kind and each field
      decks add 01-deepseek --from new.yaml  several entries at once
      cat new.yaml | decks add 01-deepseek --from -
    """
    from builder import add as adding

    config = obj.config
    path = adding.resolve_topic(config, topic)
    given = {k: v for k, v in values.items() if v is not None}
    common = {k: v for k, v in (("tags", list(tags)), ("source", source), ("allow", list(allow))) if v}
    if from_file is not None:
        if kind or entry_id or common or given:
            raise click.UsageError("--from takes the entries from the file; give no entry options with it")
        entries = adding.entries_from_yaml(from_file.read(), getattr(from_file, "name", "-"))
    else:
        entries = [_entry_from_options(kind, entry_id, common, given)]
    added_entries, warnings = adding.add_entries(config, path, entries)
    for added in added_entries:
        obj.say(f"Added {added.kind} '{added.id}' to {config.rel(path)}:{added.line}")
    for warning in [] if obj.quiet else warnings:
        echo(warning, err=True)


def _entry_from_options(
    kind: str | None, entry_id: str | None, common: dict[str, object], given: dict[str, object]
) -> dict[str, object]:
    interactive = _interactive()
    if kind is None:
        if not interactive:
            raise click.UsageError(f"missing --kind (one of: {', '.join(KINDS)})")
        kind = click.prompt("kind", type=click.Choice(list(KINDS)))
    spec = KINDS[kind]
    foreign = sorted(k for k in given if k not in spec.key_names)
    if foreign:
        raise click.UsageError(
            f"{', '.join('--' + k for k in foreign)} does not apply to a {kind} entry "
            f"(its fields: {', '.join(spec.key_names)})"
        )
    from builder import add as adding

    missing = adding.missing_keys(kind, given)
    if missing and not interactive:
        raise click.UsageError(
            f"a {kind} entry needs {' and '.join('--' + k for k in missing)} "
            "(nothing is asked when stdin is not a terminal)"
        )
    for key in missing:
        help_text = next(k.help for k in spec.keys if k.name == key)
        given[key] = click.prompt(f"{key} ({help_text})")
    return {"kind": kind, **({"id": entry_id} if entry_id else {}), **given, **common}


@cli.command("list")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    shell_complete=_complete_tags,
    help="Only entries with this tag. Repeatable (any).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(list(KINDS)),
    help="Only entries of this kind. Repeatable (any).",
)
@click.option(
    "-t",
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    shell_complete=_complete_topics,
    help="Only this topic (file name, with or without its number, or title). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of entries.")
@click.pass_obj
def list_command(
    obj: Context, tags: tuple[str, ...], kinds: tuple[str, ...], topics: tuple[str, ...], as_json: bool
) -> None:
    """List entries per topic: id, kind and question (or term, or cloze text).

    \b
    Examples:
      decks list
      decks list --tag economics --kind claim
      decks list -t 01-deepseek --json
    """
    import json

    from builder.catalog import list_entries, prompt

    listed = list_entries(obj.config, tags=tags, kinds=kinds, topics=topics)
    if as_json:
        echo(json.dumps([item.as_json() for item in listed], indent=2, ensure_ascii=False))
        return
    current = None
    for item in listed:
        if item.topic is not current:
            current = item.topic
            echo(f"{current.slug}: {current.title}")
        text = " ".join(prompt(item.entry).split())
        echo(f"  {item.entry.id}  [{item.entry.kind}]  {_clip(text, 80)}")
    obj.say(f"{len(listed)} entr{'y' if len(listed) == 1 else 'ies'}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def stats_command(obj: Context, as_json: bool) -> None:
    """Count notes and cards per topic and per kind (a concept with a reverse card,
    or a cloze with several deletions, is one note and several cards).

    \b
    Examples:
      decks stats
      decks stats --json | jq .total
    """
    import json

    from builder.catalog import stats

    counts = stats(obj.config)
    if as_json:
        echo(json.dumps(counts, indent=2, ensure_ascii=False))
        return
    kinds = list(KINDS)
    width = max([len("total"), *(len(row["topic"]) for row in counts["topics"])])
    # The kind columns count notes (a note of some kinds makes several cards): the header says so.
    lead = f"{'':<{width}}  {'':>5}  {'':>5}  "
    echo((lead + "notes of each kind".center(9 * len(kinds) - 2)).rstrip())
    header = f"{'topic':<{width}}  {'notes':>5}  {'cards':>5}  " + "  ".join(f"{k:>7}" for k in kinds)
    echo(header)
    for row in counts["topics"]:
        echo(
            f"{row['topic']:<{width}}  {row['notes']:>5}  {row['cards']:>5}  "
            + "  ".join(f"{row['kinds'][k]:>7}" for k in kinds)
        )
    total = counts["total"]
    echo(
        f"{'total':<{width}}  {total['notes']:>5}  {total['cards']:>5}  "
        + "  ".join(f"{counts['kinds'][k]['notes']:>7}" for k in kinds)
    )


@cli.command("new")
@click.argument("title")
@click.option(
    "--slug",
    metavar="SLUG",
    help="File name without .yaml. Default: from the title, numbered like the other topic files when they all are.",
)
@click.option("--description", metavar="TEXT", help="Shown in Anki's deck overview.")
@click.option("--source", metavar="TEXT", help="Default source of the topic's entries.")
@click.pass_obj
def new_command(obj: Context, title: str, slug: str | None, description: str | None, source: str | None) -> None:
    """Create a topic file, with one example entry to replace.

    \b
    Examples:
      decks new "Scaling Laws"
      decks new "Scaling Laws" --slug scaling --source "Part 3"
    """
    config = obj.config
    from builder.scaffold import new_topic

    created = new_topic(config, title, slug=slug, description=description, source=source)
    obj.say(f"Created {config.rel(created.path)}; add entries with: decks add {created.slug}")
    obj.say("Replace its example entry: `decks check` flags it until then.")
    if source is None and config.rules.get("missing-source") != "off":
        obj.say(
            "It has no source: add `source: ...` under its title (or give --source), "
            "or `decks check --strict` fails on entries without one."
        )


@cli.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--project-name",
    "project_name",
    metavar="SLUG",
    help="The project's identity in Anki (lowercase, dashes). Default: from the folder name.",
)
@click.option("--root-deck", metavar="NAME", help="The deck every topic goes under. Default: from the folder name.")
@click.option(
    "--templates",
    "copy_all_templates",
    is_flag=True,
    help="Also copy every packaged template into templates/ to edit (they then override the packaged ones).",
)
@click.pass_obj
def init_command(
    obj: Context, folder: Path, project_name: str | None, root_deck: str | None, copy_all_templates: bool
) -> None:
    """Create a deck project that builds at once: deck.yaml with freshly drawn
    note-type ids, one example topic, the topic schema and a .gitignore.

    Templates are not copied: the project uses the packaged ones (and gets
    their fixes) until it copies one to change it, with `decks copy-templates`.

    \b
    Examples:
      decks init my-deck
      decks init ~/decks/biology --root-deck "Biology 101"
      decks init . --templates      here, with a copy of every template
      cd my-deck && decks build
    """
    from builder.scaffold import init_project

    files = init_project(folder, project=project_name, root_deck=root_deck, templates=copy_all_templates)
    here = folder.resolve() == Path.cwd().resolve()
    command = "decks build" if here else f"decks -C {folder} build"
    obj.say(f"Created a deck project in {folder} ({len(files)} files); build it with: {command}")


@cli.command("copy-templates")
@click.argument("names", nargs=-1, required=True, metavar="KIND|FILE...")
@click.pass_obj
def copy_templates_command(obj: Context, names: tuple[str, ...]) -> None:
    """Copy packaged templates into the project's templates/ folder, to edit them.

    NAME is an entry kind (its folder of templates: concept, claim, qa, cloze)
    or a shared file such as style.css. A copy overrides the packaged template
    from then on, and no longer gets its fixes: copy only what you change.
    An existing file is never overwritten.

    \b
    Examples:
      decks copy-templates qa
      decks copy-templates style.css cloze
    """
    from builder.scaffold import copy_templates

    config = obj.config
    for path in copy_templates(config, names):
        obj.say(f"  copied {config.rel(path)}")


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of topic files (editors use it to complete and check YAML).

    A topic file whose first line is
    `# yaml-language-server: $schema=../schema/topic.schema.json` gets
    completion and checks in editors using the YAML language server.

    \b
    Examples:
      decks schema
      decks schema > schema/topic.schema.json
    """
    from builder.schema import schema_text

    click.echo(schema_text(), nl=False)


@cli.command("preview")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in the web browser.")
@click.option("--serve", is_flag=True, help="Serve the preview on localhost and rebuild it on every save.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port for --serve (0: any free port).",
)
@click.pass_obj
def preview_command(obj: Context, open_browser: bool, serve: bool, port: int) -> None:
    """Write an HTML preview of every card to output/preview/.

    Each card shows its question side, then its answer side (click to reveal),
    with the HTML and CSS that go into the decks; cloze deletions show as
    blanks on the front, formulas render offline. The index lists topics with
    their counts and searches every entry by text and tag.

    \b
    Examples:
      decks preview
      decks preview --open
      decks preview --serve --open
    """
    config = obj.config
    if serve:
        _serve(config, port, open_browser)
        return
    from builder.preview import build_preview

    result = build_preview(config)
    obj.say(_preview_line(config, result))
    if open_browser:
        _open(result.index.as_uri(), str(result.index))


def _preview_line(config: Config, result: PreviewResult) -> str:
    return (
        f"Preview of {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {config.rel(result.index)}"
    )


def _open(url: str, shown: str) -> None:
    """Open a page in the web browser; without one, say so and print where the page is."""
    import webbrowser

    try:
        opened = webbrowser.get().open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        echo(f"No web browser found to open the preview; open this in one: {shown}", err=True)


def _serve(config: Config, port: int, open_browser: bool) -> None:
    import threading

    from builder.errors import DecksError

    def report(outcome: PreviewResult | DecksError) -> None:
        if isinstance(outcome, DecksError):
            outcome.show()
        else:
            echo(_preview_line(config, outcome))

    def ready(url: str) -> None:
        echo(f"Serving {url} ; rebuilds on every save and reloads the page, Ctrl+C stops.")
        if open_browser:
            _open(url, url)

    # Imported here: the web server's modules would slow the start of every other command.
    from builder.serve import serve_preview

    try:
        serve_preview(config, port=port, report=report, on_ready=ready, stop=threading.Event())
    except KeyboardInterrupt:
        echo("Stopped.")


def _anki_options(function):
    """The options every command that talks to Anki takes: where AnkiConnect is, its key, the profile."""
    function = click.option(
        "--profile",
        metavar="NAME",
        help="The Anki profile to work on (must be the one open in Anki). Needed once to push to a second profile.",
    )(function)
    function = click.option(
        "--api-key",
        metavar="KEY",
        envvar="DECKS_ANKI_KEY",
        help="AnkiConnect's API key, when its config sets one. Env: DECKS_ANKI_KEY.",
    )(function)
    function = click.option(
        "--url",
        metavar="URL",
        envvar="DECKS_ANKI_URL",
        default="http://127.0.0.1:8765",
        show_default=True,
        help="Where AnkiConnect listens. Env: DECKS_ANKI_URL.",
    )(function)
    return function


def _session(obj: Context, url: str, api_key: str | None, profile: str | None, do_build: bool = True):
    from builder.anki.client import AnkiConnect
    from builder.anki.push import open_session

    session = open_session(obj.config, AnkiConnect(url, api_key), profile=profile, do_build=do_build)
    for message in session.messages:
        echo(f"note: {message}", err=True)
    return session


@cli.command("push")
@_anki_options
@click.option("-n", "--dry-run", is_flag=True, help="Print what would change in Anki, and change nothing.")
@click.option(
    "--delete", is_flag=True, help="Delete the notes of removed entries (default: tag them decks::removed, suspend)."
)
@click.option(
    "--overwrite", is_flag=True, help="Also update notes changed on both sides, with the YAML's text (Anki's is lost)."
)
@click.pass_obj
def push_command(
    obj: Context, url: str, api_key: str | None, profile: str | None, dry_run: bool, delete: bool, overwrite: bool
) -> None:
    """Build, then bring the collection open in Anki to the project's state, through AnkiConnect.

    New and changed notes go in through Anki's own package import (review
    history kept); cards of entries moved to another topic move with them;
    a renamed topic renames its deck; entries removed from the YAML are
    tagged decks::removed and suspended (deleted with --delete). Tags added
    in Anki are kept. Edits made in Anki are never overwritten: an entry
    changed on both sides is reported as a conflict and left alone. The
    plan is printed before anything changes; only this project's notes are
    touched.

    \b
    Examples:
      decks push --dry-run
      decks push
      decks push --delete
      decks push --url http://127.0.0.1:8766
    """
    from builder.anki.push import apply_plan, plan_lines, plan_push, refuse_if_needed

    session = _session(obj, url, api_key, profile)
    plan = plan_push(session, overwrite=overwrite)
    lines = plan_lines(plan, delete=delete)
    head = f"Push to Anki profile '{plan.profile}'" + (" (dry run: nothing changes)" if dry_run else "") + ":"
    obj.say("\n".join([head, *lines]))
    refuse_if_needed(plan)
    if dry_run:
        return
    if delete and (plan.removed or plan.already_removed):
        obj.say(f"Deleting {len(plan.removed) + len(plan.already_removed)} notes of removed entries.")
    report = apply_plan(session, plan, delete=delete)
    obj.say("Done: " + ("; ".join(report.done) if report.done else "nothing to change") + ".")
    if plan.conflicts:
        click.echo(
            f"note: {len(plan.conflicts)} notes changed both in the YAML and in Anki were left as they are in Anki: "
            "`decks status` shows both texts; `decks push --overwrite` takes the YAML's.",
            err=True,
        )


@cli.command("status")
@_anki_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status_command(obj: Context, url: str, api_key: str | None, profile: str | None, as_json: bool) -> None:
    """What differs between the YAML and the collection open in Anki, per topic.

    New entries, entries changed in the YAML since the last push, notes
    edited in Anki since the last push, both (conflicts, with both texts),
    removed and moved entries, and notes carrying tags added in Anki.
    Builds first (incrementally); changes nothing in Anki.

    \b
    Examples:
      decks status
      decks status --json
    """
    import json

    from builder.anki.push import plan_push
    from builder.anki.status import status_data, status_lines

    session = _session(obj, url, api_key, profile)
    data = status_data(plan_push(session), session.topics)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        echo("\n".join(status_lines(data)))


@cli.command("pull")
@_anki_options
@click.option("-n", "--dry-run", is_flag=True, help="Print the changes to the YAML as a diff, and write nothing.")
@click.pass_obj
def pull_command(obj: Context, url: str, api_key: str | None, profile: str | None, dry_run: bool) -> None:
    """Write edits made in Anki back into the YAML, keeping every other byte of each file.

    Each field edited in Anki since the last push becomes the new value of
    the entry key it is built from, reported as FILE:LINE. A field changed
    on both sides, or an edit the entry's format cannot express, is a
    conflict: both texts are shown and nothing is written for it. Exit 1
    when any conflict was reported (after writing every other edit).

    \b
    Examples:
      decks pull --dry-run
      decks pull
    """
    from builder.anki.pull import apply_pull, plan_pull
    from builder.anki.push import plan_push

    session = _session(obj, url, api_key, profile)
    result = apply_pull(obj.config, plan_pull(obj.config, plan_push(session)), dry_run=dry_run)
    if dry_run:
        for diff in result.diffs.values():
            echo(diff, nl=False)
    for edit in result.edits:
        verb = "would set" if dry_run else "set"
        obj.say(f"{edit.path}:{edit.line}: {verb} '{edit.key}' of '{edit.entry}' from Anki")
    for conflict in result.conflicts:
        echo(f"conflict: '{conflict.entry}' field '{conflict.field}': {conflict.reason}; nothing written", err=True)
        echo(f"  YAML: {conflict.yaml_text}", err=True)
        echo(f"  Anki: {conflict.anki_text}", err=True)
    if result.conflicts:
        from builder.errors import DecksError

        # A script must tell a pull that left Anki edits behind from one that took them all.
        count, edits = len(result.conflicts), len(result.edits)
        done = "would be written" if dry_run else "written"
        raise DecksError(
            f"{count} conflict{'s' if count != 1 else ''} left as {'they are' if count != 1 else 'it is'} "
            f"(see above); {edits} edit{'s' if edits != 1 else ''} {done}"
        )
    if not result.edits:
        obj.say("Nothing edited in Anki since the last push.")


def main(prog_name: str | None = None) -> None:
    """Entry point of the ``decks`` console script."""
    cli(prog_name=prog_name or "decks")
