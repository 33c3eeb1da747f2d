"""Loading and validation: every problem, with its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.config import load_config
from builder.errors import ProblemsError
from builder.load import load_project


def problems_of(project) -> list[str]:
    with pytest.raises(ProblemsError) as info:
        load_project(load_config(project.root))
    return [str(p) for p in info.value.problems]


def test_valid_project_loads_every_kind(project):
    (topic,) = load_project(load_config(project.root))
    assert topic.slug == "all-kinds"
    assert topic.title == "All Kinds"
    assert [e.kind for e in topic.entries] == ["concept", "claim", "qa", "cloze"]
    concept, claim, qa, cloze = topic.entries
    assert concept.values["reverse"] is True
    assert concept.tags == ("sample",)
    assert claim.tags == ("sample", "economics")
    assert claim.source == "Section One"
    # A number in YAML is card text exactly as written.
    assert qa.values["answer"] == "2017"
    assert cloze.loc.line == 22 and cloze.loc.col == 5


def test_every_problem_in_every_file_is_reported(project):
    project.write(
        "cards/all-kinds.yaml",
        """\
        title: A
        entries:
          - kind: qa
            id: one
            question: Q?
            answer: A
            answer: B
          - kind: clozee
            id: two
            text: x
          - kind: qa
            id: three
            qestion: Q
            answer: [1, 2]
            tags: [ok, "has space"]
          - kind: cloze
            id: four
            text: no deletion here
          - just a string
          - kind: qa
            id: "bad id!"
            question: ~
            answer: fine
        """,
    )
    project.write("cards/b.yaml", "title: B\nentries:\n\t- kind: qa\n")
    project.write("cards/c.yaml", "# only a comment\n")
    assert problems_of(project) == [
        "cards/all-kinds.yaml:7:5: duplicate key 'answer' (first given on line 6)",
        "cards/all-kinds.yaml:8:11: unknown kind 'clozee' (did you mean 'cloze'?); "
        "kinds are: concept, claim, qa, cloze",
        "cards/all-kinds.yaml:13:5: unknown key 'qestion' in a qa entry (did you mean 'question'?)",
        "cards/all-kinds.yaml:14:13: 'answer' must be text, not a list: a value starting with '[' is read as "
        "a YAML list; put the whole value in quotes",
        "cards/all-kinds.yaml:15:16: tag 'has space' contains a space; Anki tags cannot (use '-' or '::' instead)",
        "cards/all-kinds.yaml:18:11: cloze text has no deletion; mark one like {{c1::answer}}",
        "cards/all-kinds.yaml:19:5: an entry must be a mapping of keys to values, not text",
        "cards/all-kinds.yaml:21:9: id 'bad id!' must be letters, digits, '.', '_' or '-' (at most 100), "
        "starting with a letter or digit",
        "cards/all-kinds.yaml:22:15: 'question' is empty",
        "cards/b.yaml:3:1: tab character: YAML indents with spaces, not tabs",
        "cards/c.yaml: is empty; a topic needs a title and entries",
    ]


def test_duplicate_ids_across_files_name_both_places(project):
    project.write(
        "cards/zz.yaml",
        """\
        title: Other
        entries:
          - kind: qa
            id: qa-year
            question: Again?
            answer: Yes
        """,
    )
    assert problems_of(project) == [
        "cards/zz.yaml:4:9: duplicate id 'qa-year' (first used at cards/all-kinds.yaml:19:9)",
    ]


def test_duplicate_id_reported_even_when_the_first_entry_has_other_problems(project):
    project.write(
        "cards/zz.yaml",
        """\
        title: Other
        entries:
          - kind: qa
            id: qa-year
            question: Again?
        """,
    )
    assert problems_of(project) == [
        "cards/zz.yaml:3:5: qa entry 'qa-year' has no 'answer'",
        "cards/zz.yaml:4:9: duplicate id 'qa-year' (first used at cards/all-kinds.yaml:19:9)",
    ]


def test_same_title_twice_is_an_error(project):
    project.write("cards/zz.yaml", "title: All Kinds\nentries:\n  - {kind: qa, id: x, question: q, answer: a}\n")
    assert problems_of(project) == [
        "cards/zz.yaml:1:8: title 'All Kinds' is also the title of cards/all-kinds.yaml:1:8; "
        "each topic needs its own deck",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "entries: []\n",
            [
                "cards/t.yaml:1:1: missing required key 'title'",
                "cards/t.yaml:1:10: 'entries' is empty; a topic needs at least one entry",
            ],
        ),
        ("- a\n- b\n", ["cards/t.yaml:1:1: the topic must be a mapping of keys to values, not a list"]),
        (
            "title: T\nentries: {}\n",
            ["cards/t.yaml:2:10: 'entries' must be a list of entries, not a mapping"],
        ),
        (
            "title: T\ntitel: U\nentries: [{kind: qa, id: a, question: q, answer: a}]\n",
            ["cards/t.yaml:2:1: unknown key 'titel' in the topic (did you mean 'title'?)"],
        ),
        (
            "title: T\nentries:\n  - {id: a, question: q, answer: a}\n",
            ["cards/t.yaml:3:5: entry has no 'kind' (one of: concept, claim, qa, cloze)"],
        ),
        (
            "title: T\nentries:\n  - {kind: qa, question: q, answer: a}\n",
            ["cards/t.yaml:3:5: entry has no 'id'"],
        ),
        (
            "title: T\nentries:\n  - {kind: cloze, id: a, text: 'x {{c0::y}}'}\n",
            ["cards/t.yaml:3:32: cloze numbers start at c1, not c0"],
        ),
        (
            "title: T\nentries:\n  - {kind: cloze, id: a, text: 'x {{c1:: }}'}\n",
            ["cards/t.yaml:3:32: cloze deletion c1 is empty"],
        ),
        (
            "title: T\nentries:\n  - {kind: qa, id: a, question: !!python/object:os.system q, answer: a}\n",
            ["cards/t.yaml:3:33: 'question' must be text, not a value tagged !!python/object:os.system"],
        ),
        (
            "title: [\n",
            ["cards/t.yaml:2:1: YAML syntax error: did not find expected node content (while parsing a flow node)"],
        ),
    ],
)
def test_topic_file_problems(project, text, expected):
    (project.root / "cards/all-kinds.yaml").unlink()
    project.write("cards/t.yaml", text)
    assert problems_of(project) == expected


def test_non_utf8_bytes_are_located(project):
    (project.root / "cards/all-kinds.yaml").write_bytes(b"title: Caf\xe9\nentries: []\n")
    assert problems_of(project) == [
        "cards/all-kinds.yaml:1:11: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
    ]


def test_bom_and_crlf_are_accepted(project):
    text = (project.root / "cards/all-kinds.yaml").read_text(encoding="utf-8")
    (project.root / "cards/all-kinds.yaml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (topic,) = load_project(load_config(project.root))
    assert len(topic.entries) == 4
    assert "\r" not in topic.entries[1].values["answer"]


def test_tags_accept_a_single_word_and_hierarchy(project):
    project.write(
        "cards/all-kinds.yaml",
        "title: T\ntags: a::b\nentries:\n  - {kind: qa, id: a, question: q, answer: a, tags: x}\n",
    )
    (topic,) = load_project(load_config(project.root))
    assert topic.entries[0].tags == ("a::b", "x")


def test_no_topic_files(project):
    (project.root / "cards/all-kinds.yaml").unlink()
    assert problems_of(project) == ["cards: no topic files (*.yaml) found"]


def test_composer_resolves_tags_as_pyyaml_does():
    import yaml

    from builder.yamlfile import _Loader

    scalars = [
        "true", "Yes", "off", "~", "null", "", "0", "-12", "0x1F", "0o17", "1_000", "1.5", ".inf", "-.Inf", ".NaN",
        "6.8523015e+5", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "=", "<<", "abc", "y", "kind", "  spaced  ",
    ]  # fmt: skip
    text = "".join(f"- {s}\n- '{s}'\n- \"{s}\"\n- {{{s or 'k'}: {s}}}\n- [{s}]\n" for s in scalars) + "- |\n  12\n"

    def tree(node):
        if isinstance(node, yaml.ScalarNode):
            return (node.tag, node.value, node.start_mark.line, node.start_mark.column)
        if isinstance(node, yaml.SequenceNode):
            return (node.tag, [tree(n) for n in node.value])
        return (node.tag, [(tree(k), tree(v)) for k, v in node.value])

    # The loader it stands in for (libyaml's and PyYAML's own parsers place some empty values differently).
    plain = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # Twice: the second time the tags of plain scalars come from what the first remembered.
    for _ in range(2):
        assert tree(yaml.compose(text, Loader=_Loader)) == tree(yaml.compose(text, Loader=plain))


def test_composer_resolves_long_and_every_first_character_as_pyyaml_does():
    """Plain scalars too long to be remembered (numbers and dates among them), and starting with every character,
    are tagged as PyYAML tags them: most are strings by their first character alone."""
    import yaml

    from builder.yamlfile import _Loader

    plain = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    values = ["1" * 50, "-" + "2" * 45, "0." + "3" * 45, "+12_345" * 8, "2001-12-14t21:59:43." + "1" * 30 + "-05:00"]
    values += ["Yes", "NULL", "~", ".nan", "=", "<<"]
    for first in map(chr, [*range(32, 127), 0xA0, 0xE9, 0x3A3, 0x4E2D]):
        values += [f"{first}1", f"{first}{first}1.5e3", f"{first} and more words, far longer than forty characters"]
    tags = set()
    for value in values:
        for text in (f"- {value}\n", f"k: {value}\n", f"{value}\n"):
            try:
                expected = yaml.compose(text, Loader=plain)
            except yaml.YAMLError:
                continue
            got = yaml.compose(text, Loader=_Loader)
            nodes = [(expected, got)] if expected is not None else []
            assert got is None or expected is not None, text
            while nodes:
                a, b = nodes.pop()
                assert (type(a), a.tag) == (type(b), b.tag), text
                tags.add(a.tag)
                if isinstance(a, yaml.SequenceNode):
                    nodes += zip(a.value, b.value, strict=True)
                elif isinstance(a, yaml.MappingNode):
                    nodes += [pair for k, v in zip(a.value, b.value, strict=True) for pair in zip(k, v, strict=True)]
    assert {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"} <= tags
    assert {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:str"} <= tags


def test_each_problem_names_its_rule_where_it_is_found(project):
    project.write(
        "cards/all-kinds.yaml",
        """\
        title: A
        entries:
          - kind: cloze
            id: one
            text: no deletion here
            tags: [two words]
          - kind: qa
            id: two
            question: Q?
        """,
    )
    with pytest.raises(ProblemsError) as info:
        load_project(load_config(project.root))
    rules = {p.message.split(";")[0]: p.rule for p in info.value.problems}
    assert rules == {
        "cloze text has no deletion": "cloze-no-deletion",
        "tag 'two words' contains a space": "tag-spaces",
        "qa entry 'two' has no 'answer'": "invalid",
    }


# Values of every shape a key can be given: good text, numbers, flags, empty, blank, control characters,
# lists, mappings, tags, ids that are not ids, cloze texts with and without good deletions.
_VALUES = [
    "plain words", "'quoted: text'", "35", "1.5", "true", "no", "~", "''", "'  '", '"tab\\there"', '"bell\\a"',
    '"line\\nbreak"', "|\n      two\n      lines", "[a, b]", "[a, 'b c']", "[]", "{a: 1}", "!!binary aGk=",
    "2001-12-14", "bad id!", "x" * 101, "'{{c1::Paris}} is a city'", "'{{c0::zero}} x'", "'{{c1::  }} x'",
    "'{{c2::a::hint}} b'", "[t1, t1, t2]", "[long-answer]", "*anchor", "&anchor v",
]  # fmt: skip
_KEYS = ["kind", "id", "question", "answer", "term", "definition", "text", "reverse", "extra", "reasoning",
         "tags", "source", "allow", "was", "image", "example", "<<", "'id'", "qestion", "? [k]"]  # fmt: skip


def test_one_pass_entries_are_what_the_checks_make():
    """Every entry the one-pass reading makes is what the full checks make of it, with no problem; it takes
    the usual entry, and leaves every other to the checks."""
    import random

    import yaml

    from builder.load import _entry, _plain_entry
    from builder.yamlfile import YamlFile

    rng = random.Random(17)
    taken = 0
    for n in range(3000):
        kind = rng.choice(["qa", "claim", "concept", "cloze", "nope", "'qa'", "[qa]"])
        required = {"qa": ["question", "answer"], "claim": ["question", "answer", "reasoning"]}
        required |= {"concept": ["term", "definition"], "cloze": ["text"]}
        keys = ["id", *required.get(kind, [])]
        keys += rng.sample(_KEYS, rng.randint(0, 4)) if n % 3 else []
        rng.shuffle(keys)
        keys.insert(rng.randint(0, len(keys)), "kind")
        lines = []
        for key in keys:
            if key == "kind":
                value = kind
            elif n % 3 and rng.random() < 0.3:
                value = rng.choice(_VALUES)
            elif key == "id":
                value = f"e-{n}.x"
            elif key in ("tags", "allow", "was"):
                value = rng.choice(["[t1, a::b]", "one", "[example-entry]", "[]"])
            elif key == "reverse":
                value = "true"
            elif key == "text":
                value = "'{{c1::Paris}} is the {{c2::capital}}'"
            else:
                value = f"words {n}"
            lines.append(f"    {key}: {value}")
        text = "entries:\n  - " + "\n    ".join(line.strip() for line in lines) + "\n"
        doc = YamlFile(Path("t.yaml"), "cards/t.yaml").read(text)
        if doc.root is None:
            continue
        item = doc.root.value[0][1].value[0]
        ids: list = []
        # The topic's tags as written (a tag given twice is kept once, in the entry's tags).
        checked = _entry(doc, item, ("topic", "t1", "topic"), "the source", ids, [])
        fast = _plain_entry(doc.display, item, ("topic", "t1", "topic"), "the source")
        if fast is None:
            continue
        taken += 1
        assert isinstance(item, yaml.MappingNode)
        assert doc.problems == [] and checked == fast, text
        assert list(checked.values) == list(fast.values), text
        assert checked.tags == fast.tags and len(set(fast.tags)) == len(fast.tags), text
        assert dict(checked.marks) == dict(fast.marks), text
        assert ids == [(fast.id, fast.key_loc("id"))], text
    assert taken > 500


def test_one_pass_entries_leave_every_problem_to_the_checks(project):
    """An entry with any problem in it is not taken by the one-pass reading: its problems are reported."""
    from builder.load import _plain_entry
    from builder.yamlfile import YamlFile

    bad = {
        "kind: qa\nid: a\nquestion: Q\nanswer: ''": "'answer' is empty",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\nanswer: B": "duplicate key 'answer'",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\nterm: T": "unknown key 'term'",
        "kind: qa\nid: a b\nquestion: Q\nanswer: A": "must be letters, digits",
        "kind: qa\nid: a\nquestion: Q": "has no 'answer'",
        "kind: qa\nquestion: Q\nanswer: A": "entry has no 'id'",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\ntags: [a b]": "contains a space",
        "kind: qa\nid: a\nquestion: Q\nanswer: [A]": "must be text, not a list",
        'kind: qa\nid: a\nquestion: Q\nanswer: "A\\x1f"': "U+001F",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\nsource: ~": "'source' is empty",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\nwas: [a]": "entry's own id",
        "kind: concept\nid: a\nterm: T\ndefinition: D\nreverse: 'yes'": "must be true or false",
        "kind: cloze\nid: a\ntext: no deletion": "no deletion",
        "kind: cloze\nid: a\ntext: '{{c0::x}} y'": "start at c1",
        "kind: cloze\nid: a\ntext: '{{c1:: }} y'": "is empty",
        "kind: qna\nid: a\nquestion: Q\nanswer: A": "unknown kind 'qna'",
        "kind: qa\n<<: {id: a}\nid: a\nquestion: Q\nanswer: A": "merge keys",
        "kind: qa\nid: a\nquestion: Q\nanswer: A\nallow: ''": "'allow' is empty",
    }
    for body, message in bad.items():
        text = "entries:\n  - " + body.replace("\n", "\n    ") + "\n"
        doc = YamlFile(project.root / "t.yaml", "t.yaml").read(text)
        item = doc.root.value[0][1].value[0]
        assert _plain_entry("t.yaml", item, (), None) is None, body
        project.write("cards/all-kinds.yaml", "title: T\n" + text)
        assert any(message in problem for problem in problems_of(project)), body


def test_checks_across_files_find_every_clash_of_ids_and_old_ids_in_either_order():
    # The ids of a topic are taken all at once while none clashes: each kind of clash is still found, in the
    # topic that makes it, whichever topic comes first.
    from builder.load import TopicSummary, cross_file_problems

    def messages(*topics: TopicSummary) -> list[str]:
        return [f"{p.path}:{p.line}:{p.col}: {p.message}" for p in cross_file_problems(topics)]

    a = TopicSummary("a.yaml", "A", [("a-1", 3, 5), ("a-2", 7, 5)], (1, 8))
    b = TopicSummary("b.yaml", "B", [("b-1", 3, 5), ("b-2", 7, 5)], (1, 8))
    assert messages(a, b) == []
    twice = TopicSummary("b.yaml", "B", [("b-1", 3, 5), ("a-2", 7, 5)], (1, 8))
    assert messages(a, twice) == ["b.yaml:7:5: duplicate id 'a-2' (first used at a.yaml:7:5)"]
    within = TopicSummary("b.yaml", "B", [("b-1", 3, 5), ("b-1", 7, 5)], (1, 8))
    assert messages(a, within) == ["b.yaml:7:5: duplicate id 'b-1' (first used at b.yaml:3:5)"]
    # An old id named by an earlier topic's `was:`, used as an entry's id later; and the other way round.
    naming = TopicSummary("a.yaml", "A", [("a-1", 3, 5)], (1, 8), was=[("b-2", 4, 10, "a-1")])
    taken = "'was' names 'b-2', which is still the id of an entry"
    assert [taken in m and m.startswith("a.yaml:4:10: ") for m in messages(naming, b)] == [True]
    assert [taken in m and m.startswith("a.yaml:4:10: ") for m in messages(b, naming)] == [True]
