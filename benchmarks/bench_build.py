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
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402  (a sibling file, not a package)

import builder  # noqa: E402

STAGES = ("load", "validate", "render", "package", "write")
TIMINGS_RE = re.compile(r"Timings \(s\): (.*?); (\d+) topic files read")
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}


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
    """Several runs of one case."""

    size: int
    case: str
    runs: list[Run] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


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


def decks(project: Path, *args: str) -> list[str]:
    """The command line of a build of ``project``."""
    return [sys.executable, "-m", "builder", "-C", str(project), "build", "--timings", *args]


def bench_size(
    size: int, runs: int, root: Path, jobs: str, ankdown: str | None = None, other: Path | None = None
) -> list[Row]:
    """Every case for one project size."""
    project = root / f"p{size}"
    if not project.exists():
        synth.write_project(project, size)
    output, baseline_out = project / "output", root / f"baseline-{size}"
    baseline = [sys.executable, str(HERE / "baseline.py"), str(project), str(baseline_out)]

    clean = Row(size, f"clean build (-j {jobs})")
    serial = Row(size, "clean build, one process (-j 1)")
    base = Row(size, "baseline: CSafeLoader + genanki")
    cases = [
        (clean, decks(project, "-j", jobs), output, None),
        (serial, decks(project, "-j", "1"), output, None),
        (base, baseline, baseline_out, None),
    ]
    mine = None
    if other:
        mine = Row(size, f"clean build (-j {jobs}): ratio to the other builder, in the x column")
        older = Row(size, f"other builder ({other.name}): clean build (-j {jobs})")
        # Run from the other checkout's folder: `python -m` looks in the current folder first.
        cases.append((older, decks(project, "-j", jobs), output, {**ENV, "PYTHONPATH": str(other)}))
    if ankdown:
        markdown, peer_out = root / f"ankdown-{size}", root / f"ankdown-out-{size}"
        synth.write_ankdown(project, markdown)
        peer = Row(size, "peer: ankdown (markdown, one .apkg)")
        cases.append((peer, [ankdown, "-r", str(markdown), "-p", str(peer_out / "deck.apkg")], peer_out, None))
    for number in range(runs + 1):
        for row, command, folder, env in cases:
            shutil.rmtree(folder, ignore_errors=True)
            # A clean build knows no note: the project's build state goes too.
            (project / "decks.lock").unlink(missing_ok=True)
            if row.case.startswith("peer"):
                folder.mkdir()
            result = run(command, root, env, cwd=other if env else None)
            if number:  # the first round warms caches and is not counted
                row.runs.append(result)
        if number:
            for row, _, _, _ in cases:
                if row is not base:
                    row.ratios.append(row.runs[-1].wall / base.runs[-1].wall)
            if mine is not None:
                mine.runs.append(clean.runs[-1])
                mine.ratios.append(clean.runs[-1].wall / cases[-1][0].runs[-1].wall)

    # Incremental builds start from the output of a clean build.
    nochange = Row(size, "no-change rebuild")
    edited = Row(size, "rebuild after editing one entry")
    shutil.rmtree(output, ignore_errors=True)
    (project / "decks.lock").unlink(missing_ok=True)
    run(decks(project, "-j", jobs), root)
    topic = project / "cards" / "topic-07.yaml"
    for number in range(runs + 1):
        result = run(decks(project, "-j", jobs), root)
        if number:
            nochange.runs.append(result)
        synth.edit_one_entry(topic)
        result = run(decks(project, "-j", jobs), root)
        if result.read != 1:
            raise SystemExit(f"an edit in one topic read {result.read} topic files")
        if number:
            edited.runs.append(result)
    synth.write_project(project, size)  # undo the edits for the next run of this script
    shutil.rmtree(baseline_out, ignore_errors=True)
    return [row for row, _, _, _ in cases] + ([mine] if mine else []) + [nochange, edited]


def startup(runs: int, root: Path) -> Row:
    """The floor every command pays: the interpreter and the CLI's imports."""
    row = Row(0, "startup: decks --version")
    for number in range(runs + 1):
        result = run([sys.executable, "-m", "builder", "--version"], root)
        if number:
            row.runs.append(result)
    return row


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
        cells = [
            f"{row.size:,}" if row.size else "-",
            row.case,
            f"{row.median('wall'):.3f}",
            f"{min(walls):.3f}-{max(walls):.3f}",
            f"{row.median('cpu'):.3f}",
            f"{max(r.peak_mb for r in row.runs):.0f}",
            f"{statistics.median(row.ratios):.2f}" if row.ratios else "",
            *stages,
        ]
        lines.append("| " + " | ".join(cells) + " |")
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
        rows = [startup(args.runs, root)]
        for size in (int(s) for s in args.sizes.split(",")):
            rows += bench_size(size, args.runs, root, args.jobs, args.ankdown, args.other)
            print(f"... {size:,} entries done", file=sys.stderr, flush=True)
        print(table(rows))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
