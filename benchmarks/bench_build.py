"""Time `decks build` on synthetic projects against a naive genanki baseline, and print a table.

    python benchmarks/bench_build.py                 # 1,000 and 10,000 entries, 5 runs each
    python benchmarks/bench_build.py --sizes 100000  # the big one (about five minutes)
    python benchmarks/bench_build.py --ankdown ~/peers/bin/ankdown   # and a peer tool, in the same rounds
    python benchmarks/bench_build.py --other /tmp/old-checkout      # and another version of the builder
    make bench                                       # the same as the first line

Every figure is a whole process, timed from outside: wall and CPU seconds (median, min-max of the runs after
one warm-up) and the peak resident memory of the largest process. Each clean build is paired with a baseline
run right after it, and "x baseline" is the median of those per-pair ratios, so it holds when the machine's
speed drifts. Stage seconds come from `decks build --timings` (summed over processes when the build uses two).
With --ankdown, a peer tool is timed in the same rounds, on the same entries written as its markdown. With
--other, the builder of another checkout (say, the last release) builds the same project in the same rounds,
and "x other" is the median per-round ratio of this builder's clean build to that one's.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402  (a sibling file, not a package)

import builder  # noqa: E402

STAGES = ("load", "validate", "render", "package", "write")
TIMINGS_RE = re.compile(r"Timings \(s\): (.*?); (\d+) topic files read")
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
PEAK_MB = 250  # the memory target of a 100,000-entry clean build


@dataclass
class Run:
    """One finished process."""

    wall: float
    cpu: float
    peak_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    read: int | None = None


@dataclass
class Row:
    """Several runs of one case, one run per round."""

    size: int
    case: str
    runs: list[Run] = field(default_factory=list)
    # The row this one's "x baseline" column divides by, round by round (a clean build's baseline).
    base: Row | None = None

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


@dataclass
class Case:
    """A command timed once in every round of a set."""

    row: Row
    command: list[str] | None
    # Removed before each run: the output folder (and the project's decks.lock, for a clean build).
    clear: Path | None = None
    env: dict[str, str] | None = None
    cwd: Path | None = None
    before: Callable[[], None] | None = None
    # Timed in this process instead of a command: a request to Anki, whose work is done in Anki's process.
    call: Callable[[], object] | None = None


@dataclass(frozen=True)
class Ratio:
    """The median over rounds of one case's wall time divided by another's in the same round."""

    name: str
    top: Row
    bottom: Row
    # The target this ratio is held to (at most this), if any.
    limit: float | None = None

    def values(self) -> list[float]:
        return [a.wall / b.wall for a, b in zip(self.top.runs, self.bottom.runs, strict=True)]

    def median(self) -> float:
        return statistics.median(self.values())


def run(command: list[str], workdir: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run a command to its end; its wall and CPU time and peak memory, as the kernel counted them."""
    out, err = workdir / "stdout.txt", workdir / "stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env or ENV, cwd=cwd)
        # wait4 gives this process's own resource use (and that of its workers), not all children's.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = err.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {proc.returncode}:\n{text}")
    result = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    match = TIMINGS_RE.search(text)
    if match:
        for part in match.group(1).split(", "):
            stage, seconds = part.split(" ")
            result.stages[stage] = float(seconds)
        result.read = int(match.group(2))
    return result


def rounds(cases: list[Case], runs: int, root: Path) -> None:
    """Run every case once per round, ``runs`` rounds after one warm-up round that is not counted."""
    for number in range(runs + 1):
        for case in cases:
            if case.clear is not None:
                shutil.rmtree(case.clear, ignore_errors=True)
                case.clear.mkdir(parents=True)
            if case.before is not None:
                case.before()
            if case.call is not None:
                start = time.perf_counter()
                case.call()
                result = Run(time.perf_counter() - start, 0.0, 0.0)
            else:
                result = run(case.command, root, case.env, case.cwd)
            if number:
                case.row.runs.append(result)


def decks_command() -> list[str]:
    """How users run the builder: the `decks` script installed beside this Python, else `python -m builder`."""
    script = Path(sys.executable).parent / "decks"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "builder"]


def decks(project: Path, *args: str) -> list[str]:
    """The command line of a build of ``project``."""
    return [*decks_command(), "-C", str(project), "build", "--timings", *args]


def startup(runs: int, root: Path) -> tuple[list[Row], list[Ratio]]:
    """The floor every command pays: the interpreter and the libraries each kind of build loads, in the same rounds.

    `decks --version` goes through Click; a plain `decks build` (or `decks push`) runs without it (see
    builder/cmdline.py), so the libraries' rows below are what each build loads besides the builder's own modules.
    """
    python = Row(0, "python -c pass")
    click = Row(0, "python -c 'import click' (the CLI library alone)")
    nochange_libraries = Row(0, "python -c 'import json, zlib' (what a no-change rebuild loads)")
    edit_libraries = Row(0, "python -c 'import yaml, markupsafe, sqlite3, zipfile' (what an edit rebuild must load)")
    libraries = Row(0, "python -c 'import yaml, jinja2, chevron' (what a clean build loads, across its processes)")
    version = Row(0, "startup: decks --version")
    rounds(
        [
            Case(python, [sys.executable, "-c", "pass"]),
            Case(click, [sys.executable, "-c", "import click"]),
            Case(nochange_libraries, [sys.executable, "-c", "import json, zlib"]),
            Case(edit_libraries, [sys.executable, "-c", "import yaml, markupsafe, sqlite3, zipfile"]),
            Case(libraries, [sys.executable, "-c", "import yaml, jinja2, chevron"]),
            Case(version, [*decks_command(), "--version"]),
        ],
        runs,
        root,
    )
    return [python, click, nochange_libraries, edit_libraries, libraries, version], [
        Ratio("decks --version / python -c pass", version, python, 4.0),
        Ratio("import click / python -c pass (a floor of the one above)", click, python),
        Ratio("import json, zlib / decks --version (a floor of a no-change rebuild)", nochange_libraries, version),
        Ratio(
            "import yaml, markupsafe, sqlite3, zipfile / decks --version (a floor of an edit rebuild)",
            edit_libraries,
            version,
        ),
        Ratio("import yaml, jinja2, chevron / decks --version (a clean build's libraries)", libraries, version),
    ]


def bench_size(
    size: int, runs: int, root: Path, jobs: str, ankdown: str | None = None, other: Path | None = None
) -> tuple[list[Row], list[Ratio]]:
    """Every case for one project size, and the ratios between them."""
    project = root / f"p{size}"
    if not project.exists():
        synth.write_project(project, size)
    output, baseline_out = project / "output", root / f"baseline-{size}"
    lock = project / "decks.lock"

    def forget() -> None:
        # A clean build knows no note: the project's build state goes too.
        lock.unlink(missing_ok=True)

    base = Row(size, "baseline: CSafeLoader + genanki")
    clean = Row(size, f"clean build (-j {jobs})", base=base)
    serial = Row(size, "clean build, one process (-j 1)", base=base)
    floor = Row(size, "parse floor: python, CSafeLoader, GC off", base=base)
    cases = [
        Case(clean, decks(project, "-j", jobs), output, before=forget),
        Case(serial, decks(project, "-j", "1"), output, before=forget),
        Case(base, [sys.executable, str(HERE / "baseline.py"), str(project), str(baseline_out)], baseline_out),
        Case(floor, [sys.executable, str(HERE / "parse_floor.py"), str(project)]),
    ]
    ratios = [
        Ratio(f"{size:,}: clean build / baseline", clean, base, {10_000: 0.5, 100_000: 0.35}.get(size)),
        Ratio(f"{size:,}: clean build / parse floor", clean, floor, {1_000: 2.5, 10_000: 1.4}.get(size)),
        Ratio(f"{size:,}: clean build, one process / baseline", serial, base),
        Ratio(f"{size:,}: parse floor / baseline", floor, base),
    ]
    if other:
        older = Row(size, f"other builder ({other.name}): clean build (-j {jobs})", base=base)
        # Its own code first on the path, so its `builder` package is the one imported.
        env = {**ENV, "PYTHONPATH": str(other)}
        cases.append(Case(older, decks(project, "-j", jobs), output, env=env, cwd=other, before=forget))
        ratios.append(Ratio(f"{size:,}: clean build / other builder", clean, older))
    if ankdown:
        markdown, peer_out = root / f"ankdown-{size}", root / f"ankdown-out-{size}"
        synth.write_ankdown(project, markdown)
        peer = Row(size, "peer: ankdown (markdown, one .apkg)", base=base)
        cases.append(Case(peer, [ankdown, "-r", str(markdown), "-p", str(peer_out / "deck.apkg")], peer_out))
        ratios.append(Ratio(f"{size:,}: clean build / ankdown", clean, peer, {1_000: 0.8, 10_000: 0.6}.get(size)))
    rounds(cases, runs, root)
    rows = [case.row for case in cases]

    # Incremental builds start from the output of a clean build, and are timed beside decks --version.
    shutil.rmtree(output, ignore_errors=True)
    forget()
    run(decks(project, "-j", jobs), root)
    version = Row(size, "startup: decks --version")
    nochange = Row(size, "no-change rebuild")
    edited = Row(size, "rebuild after editing one entry")
    topic = project / "cards" / "topic-07.yaml"
    rounds(
        [
            Case(version, [*decks_command(), "--version"]),
            Case(nochange, decks(project, "-j", jobs)),
            Case(edited, decks(project, "-j", jobs), before=lambda: synth.edit_one_entry(topic)),
        ],
        runs,
        root,
    )
    if any(r.read != 1 for r in edited.runs):
        raise SystemExit(f"an edit in one topic read {[r.read for r in edited.runs]} topic files")
    ratios += [
        Ratio(f"{size:,}: no-change rebuild / decks --version", nochange, version, 1.3 if size == 10_000 else None),
        Ratio(f"{size:,}: one-edit rebuild / decks --version", edited, version, 2.0 if size == 10_000 else None),
    ]
    synth.write_project(project, size)  # undo the edits for the next run of this script
    shutil.rmtree(baseline_out, ignore_errors=True)
    return rows + [version, nochange, edited], ratios


def summed(size: int, case: str, *rows: tuple[float, Row]) -> Row:
    """A row whose run in each round is the weighted sum of other rows' runs in that round (a bound)."""
    total = Row(size, case)
    for runs in zip(*(row.runs for _, row in rows), strict=True):
        wall = sum(weight * r.wall for (weight, _), r in zip(rows, runs, strict=True))
        total.runs.append(Run(wall, 0.0, 0.0))
    return total


def bench_push(runs: int, root: Path, jobs: str) -> tuple[list[Row], list[Ratio]]:
    """`decks push` at 10,000 entries into a running Anki desktop with AnkiConnect, beside what bounds it.

    Needs Anki desktop (the test extras) and the AnkiConnect add-on, found as the tests find them
    (tests/ankidesktop.py). Two Anki processes run, each with a fresh profile: one the project is pushed to,
    and one that imports the edited topic's package as a user would by hand, the same round.
    """
    sys.path.insert(0, str(HERE.parent))
    from tests.ankidesktop import AnkiDesktop, addon_folder

    addon = addon_folder()
    if addon is None:
        raise SystemExit("--push needs the AnkiConnect add-on and Anki desktop; see tests/ankidesktop.py")
    size = 10_000
    project = root / f"push-{size}"
    shutil.rmtree(project, ignore_errors=True)
    synth.write_project(project, size)
    topic = project / "cards" / "topic-07.yaml"
    package = project / "output" / "topic-07.apkg"
    run(decks(project, "-j", jobs), root)
    target = AnkiDesktop(root / "anki-push", addon)
    by_hand = AnkiDesktop(root / "anki-import", addon)
    try:
        target.start(timeout=300)
        by_hand.start(timeout=300)
        push = [*decks_command(), "-q", "-C", str(project), "push", "--url", target.url]
        run(push, root)  # the first push brings every note into the collection; not timed
        by_hand.request("importPackage", path=str(package))
        rebuild = Row(size, "push rounds: rebuild after editing one entry")
        imported = Row(size, "push rounds: Anki imports that topic's package (AnkiConnect importPackage)")
        edited = Row(size, "push after editing one entry")
        version = Row(size, "push rounds: decks --version")
        trip = Row(size, "push rounds: one AnkiConnect round trip (version)")
        nochange = Row(size, "no-change push")
        rounds(
            [
                Case(rebuild, decks(project, "-j", jobs), before=lambda: synth.edit_one_entry(topic)),
                Case(imported, None, call=lambda: by_hand.request("importPackage", path=str(package))),
                Case(edited, push, before=lambda: synth.edit_one_entry(topic)),
                Case(version, [*decks_command(), "--version"]),
                Case(trip, None, call=lambda: target.request("version")),
                Case(nochange, push),
            ],
            runs,
            root,
        )
    finally:
        target.stop()
        by_hand.stop()
    if any(r.read != 1 for r in rebuild.runs):
        raise SystemExit(f"an edit in one topic read {[r.read for r in rebuild.runs]} topic files")
    push_bound = summed(size, "bound: 2 x decks --version + one round trip", (2.0, version), (1.0, trip))
    edit_bound = summed(size, "bound: one-edit rebuild + Anki's import of its package", (1.0, rebuild), (1.0, imported))
    rows = [rebuild, imported, edited, version, trip, nochange, push_bound, edit_bound]
    return rows, [
        Ratio(
            f"{size:,}: no-change push / (2 x decks --version + one AnkiConnect round trip)", nochange, push_bound, 1.0
        ),
        Ratio(f"{size:,}: one-edit push / (one-edit rebuild + Anki's import of that package)", edited, edit_bound, 1.0),
        Ratio(f"{size:,}: no-change push / decks --version", nochange, version),
    ]


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    head = ["entries", "case", "wall s (median)", "wall min-max", "cpu s", "peak MB", "x baseline", *STAGES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        walls = [r.wall for r in row.runs]
        stages = [
            f"{statistics.median(r.stages.get(s, 0.0) for r in row.runs):.3f}" if row.runs[0].stages else ""
            for s in STAGES
        ]
        ratio = Ratio("", row, row.base).median() if row.base else None
        cells = [
            f"{row.size:,}" if row.size else "-",
            row.case,
            f"{row.median('wall'):.3f}",
            f"{min(walls):.3f}-{max(walls):.3f}",
            f"{row.median('cpu'):.3f}" if row.runs[0].peak_mb else "",
            f"{max(r.peak_mb for r in row.runs):.0f}" if row.runs[0].peak_mb else "",
            f"{ratio:.2f}" if ratio is not None else "",
            *stages,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(ratios: list[Ratio], rows: list[Row]) -> str:
    """Every ratio measured (median and the range over rounds), and each target met or missed."""
    lines = ["| ratio (same rounds) | median | min-max | target | |", "|---|---|---|---|---|"]
    for ratio in ratios:
        values = ratio.values()
        target, verdict = "", ""
        if ratio.limit is not None:
            met = ratio.median() <= ratio.limit
            target, verdict = f"<= {ratio.limit:g}x", "met" if met else "MISSED"
        lines.append(
            f"| {ratio.name} | {ratio.median():.2f}x | {min(values):.2f}-{max(values):.2f} | {target} | {verdict} |"
        )
    for row in rows:
        if row.size == 100_000 and row.case.startswith("clean build (-j"):
            peak = max(r.peak_mb for r in row.runs)
            verdict = "met" if peak <= PEAK_MB else "MISSED"
            what = "100,000: clean build, peak memory (largest process)"
            lines.append(f"| {what} | {peak:.0f} MB | | <= {PEAK_MB} MB | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000", help="entries per project, comma-separated (default: 1000,10000; add 100000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each case (default: 5)")
    parser.add_argument("--jobs", default="0", help="-j passed to decks build (default: 0, automatic)")
    parser.add_argument("--workdir", type=Path, help="where to write the projects (default: a temporary folder)")
    parser.add_argument(
        "--ankdown", metavar="PATH", help="also time this ankdown executable (pip install ankdown) on the same entries"
    )
    parser.add_argument(
        "--other", metavar="DIR", type=Path, help="also time the builder of another checkout (its top folder)"
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="also time decks push at 10,000 entries into Anki desktop with AnkiConnect (needs the test extras)",
    )
    args = parser.parse_args(argv)
    if args.other:
        args.other = args.other.resolve()
        compileall.compile_dir(args.other / "builder", quiet=1)

    # Time the builder as an installed copy runs, from its bytecode: where PYTHONDONTWRITEBYTECODE is set,
    # Python would otherwise compile every module of the builder again in every run (about 0.03 s).
    compileall.compile_dir(Path(builder.__file__).parent, quiet=1)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="decks-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.runs} runs per case "
            f"after one warm-up; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        rows, ratios = startup(args.runs, root)
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            more_rows, more_ratios = bench_size(size, args.runs, root, args.jobs, args.ankdown, args.other)
            rows += more_rows
            ratios += more_ratios
            print(f"... {size:,} entries done", file=sys.stderr, flush=True)
        if args.push:
            more_rows, more_ratios = bench_push(args.runs, root, args.jobs)
            rows += more_rows
            ratios += more_ratios
            print("... push done", file=sys.stderr, flush=True)
        print(table(rows))
        print()
        print(verdicts(ratios, rows))
        print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
