"""Write synthetic deck projects of any size: 20 topics, every entry kind, the shape of big shared decks.

Each entry has a unique question (or term, or cloze text) of about 64 characters, an answer of about 80
and two tags, like the decks the peer tools were measured on. The same size always gives the same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

TOPICS = 20
KINDS = ("qa", "qa", "claim", "concept", "cloze")
CONFIG = """\
project: bench
root_deck: Bench
note_types:
  concept: 1500000000000001
  claim: 1500000000000002
  qa: 1500000000000003
  cloze: 1500000000000004
"""
_WORDS = (
    "agent",
    "model",
    "scale",
    "data",
    "label",
    "reward",
    "policy",
    "token",
    "compute",
    "cluster",
    "eval",
    "benchmark",
    "robot",
    "interface",
    "action",
    "planner",
    "memory",
    "context",
    "search",
    "reason",
    "train",
    "infer",
    "deploy",
    "latency",
    "budget",
    "gradient",
    "dataset",
)


def _phrase(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(_WORDS))
    return " ".join(words)


def entry_yaml(n: int, rng: random.Random) -> str:
    """One entry of the kind its number picks, as YAML lines of a list item."""
    kind = KINDS[n % len(KINDS)]
    # The number makes every question unique; the words pad it to the target length.
    question = f"Q{n}: what does the {_phrase(rng, 40)} do?"
    answer = _phrase(rng, 80)
    tags = f"[t{n % 7}, k{n % 11}]"
    if kind in ("qa", "claim"):
        lines = [f"  - kind: {kind}", f"    id: e{n}", f'    question: "{question}"', f'    answer: "{answer}"']
        if kind == "claim":
            lines.append(f'    reasoning: "{_phrase(rng, 40)}"')
    elif kind == "concept":
        lines = [
            "  - kind: concept",
            f"    id: e{n}",
            f'    term: "term {n} {_phrase(rng, 40)}"',
            f'    definition: "{answer}"',
        ]
        if n % 2:
            lines.append("    reverse: true")
    else:
        lines = [
            "  - kind: cloze",
            f"    id: e{n}",
            f'    text: "Item {n}: the {{{{c1::{_phrase(rng, 20)}}}}} drives the {_phrase(rng, 30)}."',
            f'    extra: "{_phrase(rng, 40)}"',
        ]
    lines.append(f"    tags: {tags}")
    return "\n".join(lines) + "\n"


def topic_yaml(index: int, entries: range) -> str:
    """A whole topic file holding the given entry numbers."""
    rng = random.Random(index)
    head = (
        f'title: "Topic {index:02d}"\n'
        f'description: "Synthetic topic {index} for benchmarks."\n'
        f'source: "Section {index}"\n'
        "tags: [bench]\n"
        "entries:\n"
    )
    return head + "".join(entry_yaml(n, rng) for n in entries)


def write_project(root: Path, entries: int, topics: int = TOPICS) -> list[Path]:
    """Write deck.yaml and ``topics`` topic files of ``entries`` entries in all; returns the topic files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "deck.yaml").write_text(CONFIG, encoding="utf-8")
    cards = root / "cards"
    cards.mkdir(exist_ok=True)
    per, extra = divmod(entries, topics)
    files, start = [], 0
    for index in range(topics):
        count = per + (1 if index < extra else 0)
        path = cards / f"topic-{index:02d}.yaml"
        path.write_text(topic_yaml(index, range(start, start + count)), encoding="utf-8")
        files.append(path)
        start += count
    return files


def edit_one_entry(path: Path) -> None:
    """Change the answer of the first entry in a topic file, as a user editing one card would."""
    text = path.read_text(encoding="utf-8")
    marker = '    answer: "'
    at = text.index(marker) + len(marker)
    path.write_text(text[:at] + "edited " + text[at:], encoding="utf-8")


def write_ankdown(project: Path, folder: Path) -> int:
    """Write a project's entries as ankdown markdown (one file per topic), for timing that peer tool.

    ankdown's cards are ``front``, ``%``, ``back``, ``%``, ``tags``, separated by ``---`` lines. It has no
    kinds: a concept is its term and definition, a cloze its text and extra, a claim's reasoning follows its
    answer. The text is never a lone ``%`` or ``---`` line here. Returns the number of cards written.
    """
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    fronts = {"qa": ("question", "answer"), "claim": ("question", "answer"), "concept": ("term", "definition")}
    count = 0
    for path in sorted((project / "cards").glob("*.yaml")):
        topic = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        cards = []
        for entry in topic["entries"]:
            front_key, back_key = fronts.get(entry["kind"], ("text", "extra"))
            back = entry.get(back_key) or ""
            if entry.get("reasoning"):
                back += "\n\n" + entry["reasoning"]
            tags = ", ".join(map(str, [*topic.get("tags", []), *entry.get("tags", [])]))
            cards.append(f"{entry[front_key]}\n\n%\n\n{back}\n\n%\n\n{tags}\n")
        (folder / f"{path.stem}.md").write_text("\n---\n\n".join(cards), encoding="utf-8")
        count += len(cards)
    return count
