"""The naive baseline: read the topic files with yaml.CSafeLoader and write them with genanki, nothing more.

No validation, no templates, no manifest: each entry's text goes into its note's fields as written,
one .apkg per topic as `decks build` writes. Run as ``python benchmarks/baseline.py PROJECT OUTPUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import genanki
import yaml

FIELDS = {
    "qa": ("question", "answer"),
    "claim": ("question", "answer"),
    "concept": ("term", "definition", "reverse", "example"),
    "cloze": ("text", "extra"),
}


def models() -> dict[str, genanki.Model]:
    """One note type per entry kind, with the same fields and cards as the project's."""
    basic = [{"name": "Card", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"}]
    return {
        "qa": genanki.Model(1500000000000003, "QA", fields=[{"name": "Front"}, {"name": "Back"}], templates=basic),
        "claim": genanki.Model(
            1500000000000002, "Claim", fields=[{"name": "Front"}, {"name": "Back"}], templates=basic
        ),
        "concept": genanki.Model(
            1500000000000001,
            "Concept",
            fields=[{"name": n} for n in ("Front", "Back", "Reverse Front", "Reverse Back")],
            templates=[
                {"name": "Definition", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"},
                {
                    "name": "Term",
                    "qfmt": "{{#Reverse Front}}{{Reverse Front}}{{/Reverse Front}}",
                    "afmt": "{{FrontSide}}<hr id=answer>{{Reverse Back}}",
                },
            ],
        ),
        "cloze": genanki.Model(
            1500000000000004,
            "Cloze",
            fields=[{"name": "Text"}, {"name": "Back Extra"}],
            templates=[{"name": "Cloze", "qfmt": "{{cloze:Text}}", "afmt": "{{cloze:Text}}<br>{{Back Extra}}"}],
            model_type=genanki.Model.CLOZE,
        ),
    }


def fields(entry: dict) -> list[str]:
    """The note fields of one entry, its text as written."""
    if entry["kind"] == "concept":
        reverse = bool(entry.get("reverse"))
        return [
            entry["term"],
            entry["definition"],
            entry["definition"] if reverse else "",
            entry["term"] if reverse else "",
        ]
    return [str(entry.get(key) or "") for key in FIELDS[entry["kind"]]]


def main(project: Path, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    kinds = models()
    for number, path in enumerate(sorted((project / "cards").glob("*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            topic = yaml.load(handle, Loader=yaml.CSafeLoader)
        deck = genanki.Deck(2_000_000_000 + number, f"Bench::{topic['title']}")
        for entry in topic["entries"]:
            deck.add_note(
                genanki.Note(
                    model=kinds[entry["kind"]],
                    fields=fields(entry),
                    tags=list(topic.get("tags", [])) + list(entry.get("tags", [])),
                    guid=genanki.guid_for(entry["id"]),
                )
            )
        genanki.Package(deck).write_to_file(output / f"{path.stem}.apkg", timestamp=1_700_000_000)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
