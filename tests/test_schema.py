"""The JSON Schema of topic files: generated from the kinds, committed, and in agreement with the loader."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from builder.cli import cli
from builder.load import load_topic
from builder.schema import SCHEMA_PATH, schema_text
from tests.conftest import REPO, TOPIC_ALL_KINDS

SCHEMA_LINE = "# yaml-language-server: $schema=../schema/topic.schema.json\n"
VALIDATOR = jsonschema.Draft7Validator(json.loads(schema_text()))


def test_schema_is_valid_and_printed_by_the_cli():
    jsonschema.Draft7Validator.check_schema(json.loads(schema_text()))
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.output == schema_text()


def test_committed_copy_is_current():
    assert (REPO / SCHEMA_PATH).read_text(encoding="utf-8") == schema_text(), (
        "schema/topic.schema.json is stale: run `decks schema > schema/topic.schema.json`"
    )


@pytest.mark.parametrize("path", sorted((REPO / "cards").glob("*.yaml")), ids=lambda p: p.name)
def test_every_topic_file_points_at_the_schema_and_passes_it(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith(SCHEMA_LINE)
    assert (path.parent / "../schema/topic.schema.json").resolve() == (REPO / SCHEMA_PATH).resolve()
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]
    assert errors == []


ENTRY = "title: T\nentries:\n"
SAMPLES = [
    # (name, topic text, valid?)
    ("all kinds", TOPIC_ALL_KINDS, True),
    ("numbers are text", ENTRY + "  - {kind: qa, id: 42, question: 1.5, answer: 2017}\n", True),
    ("tags as one word", ENTRY + "  - {kind: qa, id: a, question: Q, answer: A, tags: solo}\n", True),
    ("allow a rule", ENTRY + "  - {kind: qa, id: a, question: Q, answer: A, allow: [missing-source]}\n", True),
    ("reverse flag", ENTRY + "  - {kind: concept, id: a, term: T, definition: D, reverse: false}\n", True),
    ("multi-line cloze", ENTRY + "  - kind: cloze\n    id: a\n    text: |\n      line\n      {{c2::x}}\n", True),
    ("no title", "entries:\n  - {kind: qa, id: a, question: Q, answer: A}\n", False),
    ("no entries", "title: T\n", False),
    ("empty entries", "title: T\nentries: []\n", False),
    ("unknown topic key", "titel: T\n" + ENTRY + "  - {kind: qa, id: a, question: Q, answer: A}\n", False),
    ("unknown kind", ENTRY + "  - {kind: quiz, id: a, question: Q, answer: A}\n", False),
    ("no kind", ENTRY + "  - {id: a, question: Q, answer: A}\n", False),
    ("no id", ENTRY + "  - {kind: qa, question: Q, answer: A}\n", False),
    ("bad id", ENTRY + "  - {kind: qa, id: -bad id, question: Q, answer: A}\n", False),
    ("long id", ENTRY + "  - {kind: qa, id: " + "x" * 101 + ", question: Q, answer: A}\n", False),
    ("missing answer", ENTRY + "  - {kind: qa, id: a, question: Q}\n", False),
    ("key of another kind", ENTRY + "  - {kind: qa, id: a, question: Q, answer: A, term: T}\n", False),
    ("misspelt key", ENTRY + "  - {kind: qa, id: a, question: Q, answr: A}\n", False),
    ("empty answer", ENTRY + "  - {kind: qa, id: a, question: Q, answer: ''}\n", False),
    ("blank answer", ENTRY + "  - {kind: qa, id: a, question: Q, answer: '   '}\n", False),
    ("null answer", ENTRY + "  - {kind: qa, id: a, question: Q, answer: }\n", False),
    ("list answer", ENTRY + "  - {kind: qa, id: a, question: Q, answer: [A]}\n", False),
    ("mapping answer", ENTRY + "  - {kind: qa, id: a, question: Q, answer: {x: y}}\n", False),
    ("tag with space", ENTRY + "  - {kind: qa, id: a, question: Q, answer: A, tags: [two words]}\n", False),
    ("topic tag with space", "tags: [a b]\n" + ENTRY + "  - {kind: qa, id: a, question: Q, answer: A}\n", False),
    ("reverse not a flag", ENTRY + "  - {kind: concept, id: a, term: T, definition: D, reverse: maybe}\n", False),
    ("cloze without deletion", ENTRY + "  - {kind: cloze, id: a, text: plain}\n", False),
    ("entry not a mapping", ENTRY + "  - just text\n", False),
    ("title with outer space", "title: ' T'\nentries:\n  - {kind: qa, id: a, question: Q, answer: A}\n", False),
    ("topic is a list", "- title: T\n", False),
]


@pytest.mark.parametrize(("name", "text", "valid"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_schema_and_loader_agree(tmp_path: Path, name: str, text: str, valid: bool):
    text = textwrap.dedent(text)
    topic, problems = load_topic(tmp_path / "t.yaml", "t.yaml", text)
    loader_valid = topic is not None and not problems
    schema_errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]
    assert loader_valid is valid, problems
    assert (not schema_errors) is valid, schema_errors
