"""Time `decks push` into real Anki desktop against Anki's own import of the same packages.

    python benchmarks/bench_push.py               # the interview project, 5 rounds
    python benchmarks/bench_push.py --rounds 9
    make bench-push                               # the same as the first line

Needs the test extras (Anki desktop, `aqt`) and the AnkiConnect add-on (tests/ankidesktop.py finds it).
Each round starts Anki with a fresh profile and times, as whole `decks` processes seen from outside:
a first push of the project (its packages already built, so the build part is a no-change check), a push
with nothing changed, and a push after one entry's text was edited (its topic rebuilt). In the same round,
with another fresh profile, Anki's own import of the same packages through AnkiConnect's `importPackage`,
one request per package (what a user's File > Import of each file runs), and, in this process, the `anki`
library importing them into a fresh collection. Figures are medians over the rounds, with min-max, and
"x Anki import" is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.ankidesktop import AnkiDesktop, addon_folder  # noqa: E402

DECKS = [sys.executable, "-m", "builder"]
EDIT_FILE = "cards/01-deepseek.yaml"


def _decks(project: Path, url: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([*DECKS, "-q", "-C", str(project), *args, "--url", url], check=True, cwd=REPO)
    return time.perf_counter() - start


def _edit(project: Path) -> None:
    path = project / EDIT_FILE
    text = path.read_text(encoding="utf-8")
    marker = "answer: "
    at = text.index(marker) + len(marker)
    path.write_text(text[:at] + "(edited) " + text[at:], encoding="utf-8")


def one_round(addon: Path, source: Path, work: Path) -> dict[str, float]:
    project = work / "project"
    shutil.copytree(source, project, ignore=shutil.ignore_patterns(".venv", ".git", "output", "decks.anki.lock"))
    subprocess.run([*DECKS, "-q", "-C", str(project), "build"], check=True, cwd=REPO)
    packages = sorted((project / "output").glob("*.apkg"))
    out: dict[str, float] = {"packages": len(packages)}

    anki = AnkiDesktop(work / "anki-push", addon).start()
    try:
        out["first push"] = _decks(project, anki.url, "push")
        out["no-change push"] = _decks(project, anki.url, "push")
        _edit(project)
        out["one-edit push"] = _decks(project, anki.url, "push")
        out["notes"] = len(anki.request("findNotes", query="deck:*"))
    finally:
        anki.stop()

    anki = AnkiDesktop(work / "anki-import", addon).start()
    try:
        start = time.perf_counter()
        for package in packages:
            anki.request("importPackage", path=str(package))
        out["Anki import (AnkiConnect)"] = time.perf_counter() - start
        start = time.perf_counter()
        for package in packages:
            anki.request("importPackage", path=str(package))
        out["Anki re-import, nothing new"] = time.perf_counter() - start
    finally:
        anki.stop()

    from tests.ankitools import import_package, open_collection

    (work / "lib").mkdir()
    col = open_collection(work / "lib" / "collection.anki2")
    start = time.perf_counter()
    for package in packages:
        import_package(col, package)
    out["Anki import (library)"] = time.perf_counter() - start
    col.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--project", type=Path, default=REPO, help="the project to push (default: this repository)")
    args = parser.parse_args()
    addon = addon_folder()
    if addon is None:
        sys.exit("the AnkiConnect add-on was not found; see tests/ankidesktop.py")
    rounds = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
            rounds.append(one_round(addon, args.project, Path(tmp)))
        print(f"round {n + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in rounds[-1].items()), file=sys.stderr)
    notes = int(rounds[0]["notes"])
    packages = int(rounds[0]["packages"])
    print(f"{notes} notes in {packages} packages, {args.rounds} rounds (medians, min-max; seconds)")
    print("| case | wall s | min-max | x Anki import (AnkiConnect) |")
    print("|---|---|---|---|")
    for key in rounds[0]:
        if key in ("notes", "packages"):
            continue
        values = [r[key] for r in rounds]
        ratio = statistics.median(r[key] / r["Anki import (AnkiConnect)"] for r in rounds)
        print(f"| {key} | {statistics.median(values):.3f} | {min(values):.3f}-{max(values):.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
