"""decks push / status / pull against real Anki desktop with the real AnkiConnect add-on.

One Anki runs for the module; each test has its own project (its own project name, root deck and
note-type ids), so tests never see each other's notes.
"""

from __future__ import annotations

import hashlib
import http.server
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.anki.early import send_early
from builder.anki.state import CHECK_NAME
from builder.cli import cli
from tests.ankidesktop import AnkiDesktop, require_desktop

_ids = itertools.count(1)

TOPIC_A = """\
title: Alpha
source: Part A
entries:
  - kind: qa
    id: a-one
    question: What is one?
    answer: The first number.
    tags: [numbers, basics]
  - kind: qa
    id: a-two
    question: What is two?
    answer: The second number.
  - kind: cloze
    id: a-cloze
    text: "Three comes after {{c1::two}}."
"""

TOPIC_B = """\
title: Beta
source: Part B
entries:
  - kind: concept
    id: b-term
    term: Overhang
    definition: What models can do and nobody uses yet.
    reverse: true
  - kind: claim
    id: b-claim
    question: What happens when intelligence gets cheap?
    answer: People use more of it.
"""


@pytest.fixture(scope="module")
def anki(tmp_path_factory):
    addon = require_desktop()
    desktop = AnkiDesktop(tmp_path_factory.mktemp("anki"), addon).start()
    yield desktop
    desktop.stop()


class LiveProject:
    """A project of its own, pushed to the module's Anki."""

    def __init__(self, root: Path, anki: AnkiDesktop):
        n = next(_ids)
        self.root = root
        self.anki = anki
        self.name = f"live-{n}"
        self.root_deck = f"Live {n}"
        ids = "\n".join(
            f"  {kind}: {9000000000000 + n * 10 + i}" for i, kind in enumerate(("concept", "claim", "qa", "cloze"))
        )
        self.write("deck.yaml", f"project: {self.name}\nroot_deck: {self.root_deck}\nnote_types:\n{ids}\n")
        self.write("cards/alpha.yaml", TOPIC_A)
        self.write("cards/beta.yaml", TOPIC_B)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")

    def run(self, *args: str, url: str | None = None):
        argv = ["-C", str(self.root), *args, "--url", url or self.anki.url]
        # As the `decks` entry point does (builder/__main__.py): a push's first request leaves before the CLI runs.
        send_early(argv)
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def push(self, *args: str):
        result = self.run("push", *args)
        assert result.exit_code == 0, result.output
        return result

    # -- the collection, read by the test itself --------------------------------------------

    def deck(self, title: str) -> str:
        return f"{self.root_deck}::{title}"

    def notes(self) -> dict[str, dict]:
        """Every note in the collection under this project's root deck, by Entry ID."""
        ids = self.anki.request("findNotes", query=f'"deck:{self.root_deck}"')
        infos = self.anki.request("notesInfo", notes=ids)
        return {info["fields"]["Entry ID"]["value"]: info for info in infos}

    def cards(self, entry: str) -> list[dict]:
        note = self.notes()[entry]
        return self.anki.request("cardsInfo", cards=note["cards"])

    def field(self, entry: str, name: str) -> str:
        return self.notes()[entry]["fields"][name]["value"]

    def review(self, entry: str) -> int:
        """Answer the entry's first card (Good) and return its card id."""
        card = self.notes()[entry]["cards"][0]
        assert self.anki.request("answerCards", answers=[{"cardId": card, "ease": 3}]) == [True]
        return card

    def history(self, card: int) -> tuple[int, int, int]:
        """A card's interval, reps, and review log length."""
        info = self.anki.request("cardsInfo", cards=[card])[0]
        log = self.anki.request("getReviewsOfCards", cards=[card])[str(card)]
        return info["interval"], info["reps"], len(log)

    def note_type_names(self) -> list[str]:
        return [n for n in self.anki.request("modelNames") if self.name in n]

    def state(self) -> list[list]:
        lines = (self.root / "decks.anki.lock").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("[")]


@pytest.fixture
def live(tmp_path, anki, monkeypatch) -> LiveProject:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("DECKS_ANKI_URL", raising=False)
    monkeypatch.delenv("DECKS_ANKI_KEY", raising=False)
    return LiveProject(tmp_path / "proj", anki)


def _tags(note: dict) -> set[str]:
    return set(note["tags"])


def test_first_push_into_an_empty_profile_then_nothing_to_do(live):
    dry = live.push("--dry-run")
    assert "add: 5" in dry.output and live.notes() == {}
    out = live.push().output
    assert "add: 5" in out
    notes = live.notes()
    assert sorted(notes) == ["a-cloze", "a-one", "a-two", "b-claim", "b-term"]
    assert notes["a-one"]["fields"]["Question"]["value"] == "What is one?"
    assert _tags(notes["a-one"]) == {"numbers", "basics"}
    assert {c["deckName"] for c in live.cards("a-one")} == {live.deck("Alpha")}
    assert len(live.cards("b-term")) == 2 and {c["deckName"] for c in live.cards("b-term")} == {live.deck("Beta")}
    assert all(c["queue"] == 0 for e in notes for c in live.cards(e))
    assert len(live.note_type_names()) == 4
    state = live.root / "decks.anki.lock"
    before = (state.read_bytes(), state.stat().st_mtime_ns, state.stat().st_ino)
    again = live.push().output
    assert "unchanged: 5" in again and "add" not in again and "update" not in again
    # A push that changed nothing leaves its state file as it was, not even rewritten.
    assert (state.read_bytes(), state.stat().st_mtime_ns, state.stat().st_ino) == before
    status = live.run("status", "--json")
    data = json.loads(status.output)
    assert data["in_step"] and data["unchanged"] == 5


def test_edit_in_yaml_then_push_keeps_history(live):
    live.push()
    card = live.review("a-one")
    before = live.history(card)
    assert before[1] == 1 and before[2] == 1
    live.edit("cards/alpha.yaml", "The first number.", "The first counting number.")
    status = json.loads(live.run("status", "--json").output)
    alpha = next(t for t in status["topics"] if t["topic"] == "alpha")
    assert alpha["changed_in_yaml"] == ["a-one"]
    assert "update: 1 (a-one)" in live.push().output
    assert live.field("a-one", "Answer") == "The first counting number."
    assert live.history(card) == before
    assert len(live.notes()) == 5 and len(live.note_type_names()) == 4


def test_edit_in_anki_then_status_and_pull(live):
    live.push()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Two: the second number."}})
    status = json.loads(live.run("status", "--json").output)
    alpha = next(t for t in status["topics"] if t["topic"] == "alpha")
    assert [e["id"] for e in alpha["edited_in_anki"]] == ["a-two"]
    assert alpha["edited_in_anki"][0]["fields"]["Answer"]["anki"] == "Two: the second number."
    # A push keeps the Anki edit. With nothing changed in the YAML, it does not read the notes' fields
    # back, so it says that `decks status` is where such edits show.
    out = live.push().output
    assert "unchanged: 5\n  not read back: 5 (the build" in out and "edits of fields made in Anki show in" in out
    assert live.field("a-two", "Answer") == "Two: the second number."
    before = (live.root / "cards/alpha.yaml").read_bytes()
    dry = live.run("pull", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "-    answer: The second number." in dry.output and "+    answer: 'Two: the second number.'" in dry.output
    assert (live.root / "cards/alpha.yaml").read_bytes() == before
    pulled = live.run("pull")
    assert pulled.exit_code == 0, pulled.output
    assert "cards/alpha.yaml:12: set 'answer' of 'a-two' from Anki" in pulled.output
    after = (live.root / "cards/alpha.yaml").read_text(encoding="utf-8")
    assert after == before.decode().replace("answer: The second number.", "answer: 'Two: the second number.'")
    status = json.loads(live.run("status", "--json").output)
    assert status["in_step"], status
    assert "unchanged: 5" in live.push().output


def test_pull_writes_markdown_and_refuses_what_it_cannot_express(live):
    live.push()
    notes = live.notes()
    live.anki.request(
        "updateNoteFields",
        note={"id": notes["a-one"]["noteId"], "fields": {"Answer": "<b>One</b>: the first<br>number."}},
    )
    live.anki.request(
        "updateNoteFields",
        note={"id": notes["b-claim"]["noteId"], "fields": {"Claim": '<span style="color: red">Red</span> claim'}},
    )
    before = (live.root / "cards/beta.yaml").read_bytes()
    pulled = live.run("pull")
    assert pulled.exit_code == 1, pulled.output
    assert "cards/alpha.yaml:7: set 'answer' of 'a-one' from Anki" in pulled.output
    assert "1 conflict left as it is (see above); 1 edit written" in pulled.output
    assert "conflict: 'b-claim' field 'Claim': the entry's format cannot express this edit" in pulled.output
    assert 'Anki: <span style="color: red">Red</span> claim' in pulled.output
    assert (live.root / "cards/beta.yaml").read_bytes() == before
    assert 'answer: "**One**: the first\\nnumber."' in (live.root / "cards/alpha.yaml").read_text()
    out = live.push().output
    # Only a-one's entry changed: the push reads back that note alone, and b-claim's edit, still waiting
    # in Anki, shows in `decks status` rather than in the push.
    assert "unchanged: 5\n  not read back: 4 (their entries" in out and "keep edits" not in out
    assert live.field("a-one", "Answer") == "<b>One</b>: the first<br>number."
    assert live.field("b-claim", "Claim") == '<span style="color: red">Red</span> claim'
    status = json.loads(live.run("status", "--json").output)
    beta = next(t for t in status["topics"] if t["topic"] == "beta")
    assert [e["id"] for e in beta["edited_in_anki"]] == ["b-claim"] and not status["in_step"]


def test_changed_on_both_sides_is_a_conflict_and_nothing_is_lost(live):
    live.push()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Anki's two."}})
    live.edit("cards/alpha.yaml", "The second number.", "YAML's two.")
    status = live.run("status")
    assert "changed on both sides (conflict): 1: a-two" in status.output
    assert "YAML: YAML&#x27;s two." in status.output or "YAML: YAML's two." in status.output
    assert "Anki: Anki's two." in status.output
    out = live.push()
    assert "conflict, left as is" in out.output
    assert live.field("a-two", "Answer") == "Anki's two."
    pull = live.run("pull")
    assert pull.exit_code == 1, pull.output
    assert "conflict" in pull.output and "YAML's two." in (live.root / "cards/alpha.yaml").read_text()
    live.push("--overwrite")
    assert "two." in live.field("a-two", "Answer") and "YAML" in live.field("a-two", "Answer")


def test_an_id_renamed_with_was_keeps_its_note(live):
    live.push()
    note_id = live.notes()["a-two"]["noteId"]
    card = live.review("a-two")
    before = live.history(card)
    live.edit("cards/alpha.yaml", "    id: a-two\n", "    id: a-second\n    was: [a-two]\n")
    out = live.push().output
    assert "add" not in out and "remove" not in out
    notes = live.notes()
    assert "a-two" not in notes and notes["a-second"]["noteId"] == note_id
    assert live.history(card) == before and len(notes) == 5
    assert json.loads(live.run("status", "--json").output)["in_step"]


def test_move_an_entry_between_topics(live):
    live.push()
    card = live.review("a-two")
    before = live.history(card)
    text = (live.root / "cards/alpha.yaml").read_text()
    block = "  - kind: qa\n    id: a-two\n    question: What is two?\n    answer: The second number.\n"
    live.write("cards/alpha.yaml", text.replace(block, ""))
    live.write("cards/beta.yaml", TOPIC_B + block)
    status = json.loads(live.run("status", "--json").output)
    beta = next(t for t in status["topics"] if t["topic"] == "beta")
    assert beta["moved"] == [{"id": "a-two", "from": live.deck("Alpha")}]
    out = live.push().output
    assert "move: 1 (a-two -> " in out
    assert {c["deckName"] for c in live.cards("a-two")} == {live.deck("Beta")}
    assert live.history(card) == before
    assert len(live.notes()) == 5
    assert "unchanged: 5" in live.push().output


def test_rename_a_topic_renames_its_deck(live):
    live.push()
    card = live.review("a-one")
    before = live.history(card)
    # The topic's deck has options of its own, which the renamed deck keeps.
    options = live.anki.request("cloneDeckConfigId", name=f"{live.name} options", cloneFrom=1)
    assert live.anki.request("setDeckConfigId", decks=[live.deck("Alpha")], configId=options)
    live.edit("cards/alpha.yaml", "title: Alpha", "title: Alpha Prime")
    out = live.push().output
    assert f"rename deck: '{live.deck('Alpha')}' -> '{live.deck('Alpha Prime')}'" in out
    decks = live.anki.request("deckNames")
    assert live.deck("Alpha") not in decks and live.deck("Alpha Prime") in decks
    for entry in ("a-one", "a-two", "a-cloze"):
        assert {c["deckName"] for c in live.cards(entry)} == {live.deck("Alpha Prime")}
    assert live.history(card) == before
    assert len(live.notes()) == 5
    assert live.anki.request("getDeckConfig", deck=live.deck("Alpha Prime"))["id"] == options


def test_remove_an_entry_tags_and_suspends_then_delete(live):
    live.push()
    card = live.review("b-claim")
    before = live.history(card)
    live.edit("cards/beta.yaml", "  - kind: claim\n    id: b-claim\n", "  - kind: claim\n    id: b-claim-x\n")
    text = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", text[: text.index("  - kind: claim")])
    out = live.push().output
    assert "remove (tag decks::removed, suspend): 1 (b-claim)" in out
    notes = live.notes()
    assert "decks::removed" in notes["b-claim"]["tags"]
    assert all(c["queue"] == -1 for c in live.cards("b-claim"))
    assert all(c["queue"] == 0 for c in live.cards("b-term"))
    interval, reps, log = live.history(card)
    assert (interval, reps, log) == before
    assert len(notes) == 5 and notes["b-claim"]["fields"]["Claim"]["value"] == "People use more of it."
    again = live.push().output
    assert "remove" not in again
    dry = live.push("--delete", "--dry-run").output
    assert "delete (removed earlier): 1 (b-claim)" in dry and "b-claim" in live.notes()
    deleted = live.push("--delete").output
    assert "Deleting 1 notes" in deleted
    assert sorted(live.notes()) == ["a-cloze", "a-one", "a-two", "b-term"]


def test_an_entry_back_in_the_yaml_is_restored(live):
    live.push()
    original = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", original[: original.index("  - kind: claim")])
    live.push()
    live.write("cards/beta.yaml", original)
    out = live.push().output
    assert "restore (back in the YAML): 1 (b-claim)" in out
    assert "decks::removed" not in live.notes()["b-claim"]["tags"]
    assert all(c["queue"] == 0 for c in live.cards("b-claim"))


def test_notes_that_are_not_the_projects_are_never_touched(live):
    live.push()
    deck = live.deck("Beta")
    basic = live.anki.request(
        "addNote", note={"deckName": deck, "modelName": "Basic", "fields": {"Front": "Mine", "Back": "Mine"}}
    )
    # A note made by hand on one of the project's note types, from no entry.
    name = next(n for n in live.note_type_names() if n.startswith("Question"))
    by_hand = live.anki.request(
        "addNote",
        note={"deckName": deck, "modelName": name, "fields": {"Question": "Hand?", "Answer": "Made", "Entry ID": "x"}},
    )
    ids = [c for i in live.anki.request("notesInfo", notes=[basic, by_hand]) for c in i["cards"]]
    before = [(c["deckName"], c["queue"]) for c in live.anki.request("cardsInfo", cards=ids)]
    text = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", text[: text.index("  - kind: claim")])
    out = live.push("--delete").output
    assert "Deleting 1 notes" in out
    infos = live.anki.request("notesInfo", notes=[basic, by_hand])
    assert [i["noteId"] for i in infos] == [basic, by_hand]
    assert all(i["tags"] == [] for i in infos)
    assert infos[1]["fields"]["Answer"]["value"] == "Made" and infos[0]["fields"]["Back"]["value"] == "Mine"
    cards = live.anki.request("cardsInfo", cards=ids)
    assert [(c["deckName"], c["queue"]) for c in cards] == before
    assert "b-claim" not in live.notes() and "b-term" in live.notes()


def test_empty_topic_file_refuses_removals(live):
    live.push()
    live.write("cards/beta.yaml", "title: Beta\nentries: []\n")
    result = live.run("push")
    assert result.exit_code == 1
    # The build refuses a topic without entries, so the push stops before it reads Anki.
    assert "cards/beta.yaml:2:10: 'entries' is empty" in result.output
    notes = live.notes()
    assert len(notes) == 5 and all("decks::removed" not in n["tags"] for n in notes.values())


def test_whole_project_empty_refuses_removals(live):
    live.push()
    live.write("cards/alpha.yaml", "title: Alpha\nentries: []\n")
    live.write("cards/beta.yaml", "title: Beta\nentries: []\n")
    result = live.run("push")
    assert result.exit_code == 1
    assert "'entries' is empty" in result.output
    assert all("decks::removed" not in n["tags"] for n in live.notes().values())


def test_field_and_card_added_to_a_note_type_change_it_in_place(live):
    live.push()
    card = live.review("a-one")
    before = live.history(card)
    # The collection holds an older form of the Question note type: one field fewer, a card named otherwise.
    name = next(n for n in live.note_type_names() if n.startswith("Question"))
    live.anki.request("modelFieldRemove", modelName=name, fieldName="Audio")
    live.anki.request("modelTemplateRename", modelName=name, oldTemplateName="Card", newTemplateName="Old card")
    live.edit("cards/alpha.yaml", "The first number.", "One, the first number.")
    out = live.push().output
    assert "note type changed in place" in out and "field 'Audio' added" in out
    assert "card 'Old card' renamed to 'Card'" in out
    assert sorted(live.note_type_names()) == sorted(set(live.note_type_names()))
    assert not [n for n in live.anki.request("modelNames") if n.startswith(name) and n != name]
    assert "Audio" in live.anki.request("modelFieldNames", modelName=name)
    assert list(live.anki.request("modelTemplates", modelName=name)) == ["Card"]
    assert live.field("a-one", "Answer") == "One, the first number."
    assert live.history(card) == before
    assert len(live.notes()) == 5


def test_tags_added_in_anki_survive_a_push(live):
    live.push()
    notes = live.notes()
    live.anki.request("addTags", notes=[notes["a-one"]["noteId"]], tags="leech marked mine")
    live.anki.request("addTags", notes=[notes["a-two"]["noteId"]], tags="mine")
    status = json.loads(live.run("status", "--json").output)
    alpha = next(t for t in status["topics"] if t["topic"] == "alpha")
    assert {e["id"]: set(e["tags"]) for e in alpha["anki_tags"]} == {
        "a-one": {"leech", "marked", "mine"},
        "a-two": {"mine"},
    }
    live.edit("cards/alpha.yaml", "The first number.\n    tags: [numbers, basics]", "Number one.\n    tags: [numbers]")
    live.edit("cards/alpha.yaml", "The second number.", "Number two.")
    assert "update: 2" in live.push().output
    notes = live.notes()
    assert notes["a-one"]["fields"]["Answer"]["value"] == "Number one."
    assert _tags(notes["a-one"]) == {"numbers", "leech", "marked", "mine"}
    assert _tags(notes["a-two"]) == {"mine"}
    assert notes["a-two"]["fields"]["Answer"]["value"] == "Number two."


def _final_state(live: LiveProject) -> dict:
    """What the collection holds of the project: per entry, deck(s), fields, tags, suspension."""
    out = {}
    for entry, note in live.notes().items():
        cards = live.anki.request("cardsInfo", cards=note["cards"])
        out[entry] = (
            sorted({c["deckName"] for c in cards}),
            {k: v["value"] for k, v in note["fields"].items()},
            sorted(note["tags"]),
            sorted(c["queue"] == -1 for c in cards),
        )
    return out


def _many_changes(live: LiveProject) -> None:
    """Edits, a move, a renamed topic, a removal and tags added in Anki: every step a push takes."""
    notes = live.notes()
    live.anki.request("addTags", notes=[notes["a-one"]["noteId"]], tags="mine")
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.edit("cards/alpha.yaml", "title: Alpha", "title: Alpha Two")
    text = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", text[: text.index("  - kind: claim")])
    for n in range(3):
        live.edit(f"cards/extra-{n}.yaml", "answer: Answer 1.", "answer: Answer one.")
    block = "  - kind: qa\n    id: x0-5\n    question: Question 0.5?\n    answer: Answer 5.\n"
    live.edit("cards/extra-0.yaml", block, "")
    live.write("cards/extra-1.yaml", (live.root / "cards/extra-1.yaml").read_text() + block)


def _extra_topics(live: LiveProject) -> None:
    for n in range(3):
        entries = "".join(
            f"  - kind: qa\n    id: x{n}-{i}\n    question: Question {n}.{i}?\n    answer: Answer {i}.\n"
            for i in range(40)
        )
        live.write(f"cards/extra-{n}.yaml", f"title: Extra {n}\nentries:\n" + entries)


def _actions(request: dict) -> list[dict]:
    return request["params"]["actions"] if request.get("action") == "multi" else [request]


_MOMENTS = {
    # Just after Anki imported the trimmed package.
    "import": lambda request: any(a["action"] == "importPackage" for a in _actions(request)),
    # Just after the notes of removed entries were tagged and suspended: only the push state is left to save.
    "tags": lambda request: any(a["action"] == "addTags" and a["params"]["tags"] == REMOVED for a in _actions(request)),
}
REMOVED = "decks::removed"


@pytest.mark.parametrize("moment", ["start", "import", "tags"])
def test_push_killed_midway_then_run_again_reaches_the_same_end(live, tmp_path, moment):
    _extra_topics(live)
    live.push()
    _many_changes(live)
    holder = _Proxy(live.anki.url, hold_after=_MOMENTS.get(moment, lambda request: False))
    try:
        env = {**os.environ, "DECKS_ANKI_URL": holder.url}
        command = [sys.executable, "-m", "builder", "-C", str(live.root), "push"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if moment == "start":
            time.sleep(0.3)
        else:
            holder.reached.wait(60)
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        process.wait()
        assert killed, process.stdout.read().decode()
    finally:
        holder.close()
    live.push()
    end = _final_state(live)
    assert "unchanged: 124" in live.push().output
    assert len(end) == 125
    assert end["a-one"][0] == [live.deck("Alpha Two")] and end["a-one"][1]["Answer"] == "Number one."
    assert end["a-one"][2] == ["basics", "mine", "numbers"]
    assert end["b-claim"][2] == ["decks::removed"] and end["b-claim"][3] == [True]
    assert end["x0-5"][0] == [live.deck("Extra 1")]
    assert end["x2-1"][1]["Answer"] == "Answer one."
    assert live.deck("Alpha") not in live.anki.request("deckNames")
    assert all(flags == [False] * len(flags) for e, (_, _, _, flags) in end.items() if e != "b-claim")


def test_anki_not_running(tmp_path):
    root = tmp_path / "p"
    (root / "cards").mkdir(parents=True)
    (root / "deck.yaml").write_text(
        "project: p\nroot_deck: P\nnote_types: {concept: 11, claim: 12, qa: 13, cloze: 14}\n", encoding="utf-8"
    )
    (root / "cards/a.yaml").write_text(TOPIC_A, encoding="utf-8")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for command in ("push", "status", "pull"):
        result = CliRunner().invoke(cli, ["-C", str(root), command, "--url", f"http://127.0.0.1:{port}"])
        assert result.exit_code == 1, result.output
        assert f"cannot reach Anki at http://127.0.0.1:{port}" in result.output
        assert "Traceback" not in result.output


# -- what a push that reads little must still see ----------------------------------------------------

QUICK = "not read back: 5 (the build"


def test_a_push_with_nothing_changed_reads_no_note_but_sees_a_note_deleted_in_anki(live):
    live.push()
    assert QUICK in live.push().output
    notes = live.notes()
    # A card moved by hand stays where it was put, whether the push reads the notes or not.
    elsewhere = f"{live.root_deck}::Elsewhere"
    live.anki.request("changeDeck", cards=notes["a-one"]["cards"], deck=elsewhere)
    assert QUICK in live.push().output
    assert {c["deckName"] for c in live.cards("a-one")} == {elsewhere}
    live.anki.request("deleteNotes", notes=[notes["a-two"]["noteId"]])
    out = live.push().output
    assert "add: 1 (a-two)" in out and QUICK not in out
    assert live.field("a-two", "Answer") == "The second number."
    assert QUICK in live.push().output


def test_a_removed_entry_unsuspended_or_untagged_in_anki_is_removed_again(live):
    live.push()
    text = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", text[: text.index("  - kind: claim")])
    live.push()
    assert "not read back: 4 (the build" in live.push().output
    cards = live.notes()["b-claim"]["cards"]
    live.anki.request("unsuspend", cards=cards)
    out = live.push().output
    assert "remove (tag decks::removed, suspend): 1 (b-claim)" in out
    assert all(c["queue"] == -1 for c in live.cards("b-claim"))
    live.anki.request("removeTags", notes=[live.notes()["b-claim"]["noteId"]], tags="decks::removed")
    assert "remove (tag decks::removed, suspend): 1 (b-claim)" in live.push().output
    assert "decks::removed" in live.notes()["b-claim"]["tags"]
    assert "not read back: 4 (the build" in live.push().output


def test_a_project_tag_removed_in_anki_is_put_back_even_beside_its_child_tag(live):
    live.edit("cards/alpha.yaml", "tags: [numbers, basics]", "tags: [numbers, basics, under_score, a.b, x, x::y, 'q*']")
    live.push()
    assert QUICK in live.push().output
    note = live.notes()["a-one"]["noteId"]
    every = {"numbers", "basics", "under_score", "a.b", "x", "x::y", "q*"}
    # `x::y` stays: a search for the tag `x` that also found its children would miss that `x` is gone.
    live.anki.request("updateNoteTags", note=note, tags=sorted(every - {"x"}))
    out = live.push().output
    assert "retag: 1 (a-one)" in out and QUICK not in out
    assert _tags(live.notes()["a-one"]) == every
    # Tags with characters a search reads specially.
    live.anki.request("updateNoteTags", note=note, tags=["numbers", "basics", "x", "x::y"])
    assert "retag: 1 (a-one)" in live.push().output
    assert _tags(live.notes()["a-one"]) == every
    # Each tag's search finds the notes carrying it: the next push has nothing to do, and knows it.
    assert QUICK in live.push().output


def test_a_card_template_renamed_in_anki_is_renamed_back_with_nothing_changed_in_the_yaml(live):
    live.push()
    name = next(n for n in live.note_type_names() if n.startswith("Question"))
    live.anki.request("modelTemplateRename", modelName=name, oldTemplateName="Card", newTemplateName="Mine")
    out = live.push().output
    assert "note type changed in place" in out and "card 'Mine' renamed to 'Card'" in out
    assert list(live.anki.request("modelTemplates", modelName=name)) == ["Card"]
    assert QUICK in live.push().output


def test_a_conflict_is_reported_by_every_push_until_resolved(live):
    live.push()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Anki's two."}})
    live.edit("cards/alpha.yaml", "The second number.", "YAML's two.")
    first = live.push().output
    assert "conflict, left as is (see `decks status`): 1 (a-two)" in first and "not read back: 4 (their" in first
    # Nothing changed since, on either side: the conflict is still there, and still said.
    again = live.push().output
    assert "conflict, left as is (see `decks status`): 1 (a-two)" in again and QUICK not in again
    assert live.field("a-two", "Answer") == "Anki's two."
    live.push("--overwrite")
    assert "YAML" in live.field("a-two", "Answer")
    assert QUICK in live.push().output


def test_an_edit_in_yaml_reads_back_only_its_note(live):
    live.push()
    notes = live.notes()
    live.anki.request("updateNoteFields", note={"id": notes["b-claim"]["noteId"], "fields": {"Claim": "Edited."}})
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    out = live.push().output
    assert "update: 1 (a-one)" in out and "not read back: 4 (their entries" in out
    assert live.field("a-one", "Answer") == "Number one." and live.field("b-claim", "Claim") == "Edited."
    # The edit made in Anki was not overwritten, and is still there for status and pull.
    status = json.loads(live.run("status", "--json").output)
    beta = next(t for t in status["topics"] if t["topic"] == "beta")
    assert [e["id"] for e in beta["edited_in_anki"]] == ["b-claim"]


def _as_old_format(path: Path) -> None:
    """decks.anki.lock as pushes wrote it before the check: version 1, profile lines of three values."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("{"):
            head = json.loads(line)
            line = json.dumps({**head, "decks-anki": 1}, ensure_ascii=False) + "\n"
        elif line.startswith('["profile"'):
            row = json.loads(line)
            line = json.dumps(row[:3], ensure_ascii=False) + "\n"
        out.append(line)
    path.write_text("".join(out), encoding="utf-8")


def _push_check(live) -> Path:
    return live.root / "output" / ".decks-push-check.json"


def test_a_push_state_without_a_check_is_read_in_full_once(live):
    live.push()
    state = live.root / "decks.anki.lock"
    _as_old_format(state)
    _push_check(live).unlink()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Two!"}})
    out = live.push().output
    # Every note read: the Anki edit is seen, and no note is taken for new.
    assert "keep edits made in Anki (`decks pull` takes them): 1 (a-two)" in out
    assert "add" not in out and "not read back" not in out
    head = next(line for line in state.read_text(encoding="utf-8").splitlines() if line.startswith("{"))
    assert json.loads(head)["decks-anki"] == 1
    assert QUICK in live.push().output
    assert live.field("a-two", "Answer") == "Two!"


def test_the_committed_push_state_holds_no_check_and_its_profile_line_stays_small(live):
    live.push()
    state = live.root / "decks.anki.lock"
    profiles = [line for line in state.read_text(encoding="utf-8").splitlines() if line.startswith('["profile"')]
    assert len(profiles) == 1 and len(profiles[0].encode("utf-8")) < 1024
    assert len(json.loads(profiles[0])) == 3 and '"build"' not in state.read_text(encoding="utf-8")
    # The check is in the output folder, beside the build's caches, and a push goes the quick way with it.
    check = json.loads(_push_check(live).read_text(encoding="utf-8"))
    assert check["project"] == live.name and set(check["profiles"]) == {"test"}
    assert QUICK in live.push().output


def test_a_deleted_check_reads_everything_once_then_goes_the_quick_way_again(live):
    live.push()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Two!"}})
    assert QUICK in live.push().output
    state = live.root / "decks.anki.lock"
    before = state.read_bytes()
    _push_check(live).unlink()
    out = live.push().output
    assert "not read back" not in out and "add" not in out and "update" not in out
    # The full read found what the quick one had recorded: the committed file is left as it was.
    assert state.read_bytes() == before and _push_check(live).is_file()
    assert QUICK in live.push().output
    # A damaged check file is no check either.
    _push_check(live).write_text("{", encoding="utf-8")
    assert "not read back" not in live.push().output
    assert QUICK in live.push().output


def test_a_check_made_with_other_note_lines_is_void(live):
    live.push()
    state = live.root / "decks.anki.lock"
    older = state.read_bytes()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    assert "update: 1 (a-one)" in live.push().output
    assert state.read_bytes() != older and QUICK in live.push().output
    # As a `git pull` or checkout would: the committed file changes, the output folder's check stays.
    state.write_bytes(older)
    out = live.push().output
    # The check vouches for note lines this file no longer holds: the push reads every note instead.
    assert "not read back" not in out and "add" not in out


def test_a_version_2_push_state_with_its_check_inline_is_read_and_rewritten_without_it(live):
    live.push()
    state = live.root / "decks.anki.lock"
    # The form pushes wrote while the check was kept inline: version 2, the check the profile line's fourth value.
    check = json.loads(_push_check(live).read_text(encoding="utf-8"))["profiles"]["test"]
    out = []
    for line in state.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("{"):
            line = json.dumps({**json.loads(line), "decks-anki": 2}, ensure_ascii=False) + "\n"
        elif line.startswith('["profile"'):
            line = json.dumps([*json.loads(line), check], ensure_ascii=False, separators=(",", ":")) + "\n"
        out.append(line)
    state.write_text("".join(out), encoding="utf-8")
    _push_check(live).unlink()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Two!"}})
    pushed = live.push().output
    assert "keep edits made in Anki (`decks pull` takes them): 1 (a-two)" in pushed and "add" not in pushed
    rows = live.state()
    assert [len(r) for r in rows if r[0] == "profile"] == [3] and len([r for r in rows if r[0] == "note"]) == 5
    head = next(line for line in state.read_text(encoding="utf-8").splitlines() if line.startswith("{"))
    assert json.loads(head)["decks-anki"] == 1 and '"build"' not in state.read_text(encoding="utf-8")
    assert QUICK in live.push().output
    assert live.field("a-two", "Answer") == "Two!"


def _record_other_answer(state: Path, entry: str) -> None:
    """Change the answer's digest in the push state's record of ``entry``, as a hand edit would."""
    lines = state.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if f'"{entry}"' in line)
    row = json.loads(lines[at])
    row[7] = {**row[7], "Answer": "0" * 16}
    lines[at] = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
    state.write_text("".join(lines), encoding="utf-8")


def test_a_push_state_edited_by_hand_voids_its_check(live):
    live.push()
    note = live.notes()["a-two"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Answer": "Two!"}})
    assert QUICK in live.push().output
    state = live.root / "decks.anki.lock"
    _record_other_answer(state, "a-two")
    # The check in the output folder is still there, but made for other note lines.
    assert _push_check(live).is_file()
    out = live.push().output
    # The record now disagrees with Anki: only a full read finds that out.
    assert "keep edits made in Anki (`decks pull` takes them): 1 (a-two)" in out and "not read back" not in out


def test_a_project_pushed_to_two_profiles_still_reads_little(live):
    from builder.anki.state import load_state, save_state

    live.push()
    # As if a push had also gone to another profile of this collection's Anki.
    state = load_state(live.root, live.name)
    state.profiles["Work"] = dict(state.profiles["test"])
    save_state(live.root, state)
    assert QUICK in live.push().output
    assert QUICK in live.push("--profile", "test").output


@pytest.fixture
def packages_read(monkeypatch) -> list[str]:
    """The names of the packages each push reads, in order."""
    import builder.anki.apkg as apkg

    names: list[str] = []
    real = apkg.read_packages

    def read(paths, *args, **kwargs):
        paths = list(paths)
        names.extend(p.name for p in paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(apkg, "read_packages", read)
    return names


def test_an_edit_in_one_topic_reads_only_its_package(live, packages_read):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    packages_read.clear()
    out = live.push().output
    assert "update: 1 (a-one)" in out and "not read back: 4 (their entries" in out
    assert packages_read == ["alpha.apkg"]
    assert live.field("a-one", "Answer") == "Number 1."
    # The records of the package not read were written back as they were: the next push has nothing to do.
    assert QUICK in live.push().output
    live.edit("cards/beta.yaml", "Overhang", "The overhang")
    packages_read.clear()
    out = live.push().output
    assert "update: 1 (b-term)" in out and packages_read == ["beta.apkg"]
    assert live.field("b-term", "Term") == "The overhang"


def test_an_edit_in_one_topic_while_a_note_of_another_was_deleted_in_anki(live, packages_read):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    live.anki.request("deleteNotes", notes=[live.notes()["b-claim"]["noteId"]])
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    out = live.push().output
    assert "add: 1 (b-claim)" in out and "update: 1 (a-one)" in out
    assert "b-claim" in live.notes() and live.field("a-one", "Answer") == "Number 1."
    assert QUICK in live.push().output


def test_an_edit_in_one_topic_while_a_card_template_of_another_was_renamed(live):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    name = next(n for n in live.note_type_names() if n.startswith("Claim"))
    live.anki.request("modelTemplateRename", modelName=name, oldTemplateName="Card", newTemplateName="Mine")
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    out = live.push().output
    assert "card 'Mine' renamed to 'Card'" in out and "update: 1 (a-one)" in out
    assert list(live.anki.request("modelTemplates", modelName=name)) == ["Card"]
    assert QUICK in live.push().output


def test_an_edit_in_one_topic_and_a_conflict_in_another(live):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    note = live.notes()["b-term"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Term": "Anki's term"}})
    live.edit("cards/beta.yaml", "Overhang", "YAML's term")
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    out = live.push().output
    assert "conflict, left as is (see `decks status`): 1 (b-term)" in out and "update: 1 (a-one)" in out
    assert live.field("b-term", "Term") == "Anki's term" and live.field("a-one", "Answer") == "Number 1."
    # Another edit elsewhere: the conflict is still said.
    live.edit("cards/alpha.yaml", "Number 1.", "Number 1!")
    out = live.push().output
    assert "conflict, left as is (see `decks status`): 1 (b-term)" in out and "update: 1 (a-one)" in out


def test_a_removed_entry_of_a_package_not_read_stays_removed(live, packages_read):
    live.push()
    text = (live.root / "cards/beta.yaml").read_text()
    live.write("cards/beta.yaml", text[: text.index("  - kind: claim")])
    assert "remove (tag decks::removed, suspend): 1 (b-claim)" in live.push().output
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    packages_read.clear()
    out = live.push().output
    # Beta's records are its one note left and the removed one, told apart by the removed tag in Anki.
    assert packages_read == ["alpha.apkg"] and "update: 1 (a-one)" in out and "remove" not in out
    assert "decks::removed" in live.notes()["b-claim"]["tags"]
    assert any(row[3] == "b-claim" for row in live.state() if row[0] == "note")
    # The removed entry back in the YAML: its package changed, and the note is restored.
    live.write("cards/beta.yaml", text)
    out = live.push().output
    assert "restore (back in the YAML): 1 (b-claim)" in out
    assert "decks::removed" not in live.notes()["b-claim"]["tags"]
    assert all(c["queue"] != -1 for c in live.cards("b-claim"))


def test_a_push_that_only_imports_records_what_anki_holds_after_it(live):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    # Only additions and an update: the push's record of them comes from the request that imported them.
    live.write(
        "cards/alpha.yaml",
        (live.root / "cards/alpha.yaml").read_text().replace("Number one.", "Number 1.")
        + "  - kind: qa\n    id: a-four\n    question: What is four?\n    answer: Two twos.\n",
    )
    out = live.push().output
    assert "add: 1 (a-four)" in out and "update: 1 (a-one)" in out
    records = {row[3]: row for row in live.state() if row[0] == "note"}
    notes = live.notes()
    assert records["a-four"][4] == notes["a-four"]["noteId"] and records["a-one"][4] == notes["a-one"]["noteId"]
    assert QUICK.replace("5", "6") in live.push().output
    status = json.loads(live.run("status", "--json").output)
    assert all(not t["edited_in_anki"] for t in status["topics"])


def test_a_push_that_only_updates_records_the_searches_it_started_from(live):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    out = live.push().output
    assert "update: 1 (a-one)" in out and "add:" not in out
    assert live.field("a-one", "Answer") == "Number one."
    # Nothing else changed: the next push reads nothing back.
    assert QUICK in live.push().output
    # Anki changed after the update-only push: the next push sees it, as after any other push.
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    live.push()
    notes = live.notes()
    live.anki.request("suspend", cards=notes["a-two"]["cards"])
    live.anki.request("deleteNotes", notes=[notes["b-claim"]["noteId"]])
    out = live.push().output
    assert QUICK not in out and "add: 1 (b-claim)" in out
    assert live.field("a-one", "Answer") == "Number 1." and "b-claim" in live.notes()
    assert QUICK in live.push().output


@pytest.fixture
def staged(monkeypatch) -> list[str]:
    """What became of each push state written while Anki imported: "commit" or "discard", in order."""
    import builder.anki.push as push
    import builder.anki.state as state

    done: list[str] = []
    stage, commit, discard = push.stage_state, state.StagedState.commit, state.StagedState.discard

    def staging(*args):
        made = stage(*args)
        made.expected = True
        return made

    def committed(self):
        if getattr(self, "expected", False):
            done.append("commit")
        return commit(self)

    def discarded(self):
        if getattr(self, "expected", False) and self._writes is not None:
            done.append("discard")
        discard(self)

    monkeypatch.setattr(push, "stage_state", staging)
    monkeypatch.setattr(state.StagedState, "commit", committed)
    monkeypatch.setattr(state.StagedState, "discard", discarded)
    return done


def _temps(live) -> list[str]:
    return sorted(p.name for p in live.root.iterdir() if p.name.startswith(".decks-"))


def test_the_push_state_written_while_anki_imports_is_the_one_its_answer_makes(live, staged):
    live.push()
    before = (live.root / "decks.anki.lock").read_bytes()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    out = live.push().output
    assert "update: 1 (a-one)" in out and staged == ["commit"]
    after = (live.root / "decks.anki.lock").read_bytes()
    assert after != before and _temps(live) == []
    record = _records(live)["a-one"]
    assert record[7]["Answer"] == hashlib.sha256(b"Number one.").hexdigest()[:16]
    assert QUICK in live.push().output


@pytest.mark.parametrize("wrong", ["Answer", "tags"])
def test_a_push_state_written_while_anki_imports_that_its_answer_does_not_make_is_dropped(
    live, staged, monkeypatch, wrong
):
    import builder.anki.push as push

    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    expected = push._expected_replies

    def guessed_wrong(session, plan):
        # The guess has Anki answer other than it does: other text in a field (as if the import had not taken
        # the edit), or other tags (which the push state does not record: the state made is the same).
        replies = expected(session, plan)
        if wrong == "Answer":
            other = {"value": "Other.", "order": 1}
            return [{**info, "fields": {**info["fields"], "Answer": other}} for info in replies]
        return [{**info, "tags": [*info["tags"], "other"]} for info in replies]

    monkeypatch.setattr(push, "_expected_replies", guessed_wrong)
    assert "update: 1 (a-one)" in live.push().output
    assert staged == (["discard"] if wrong == "Answer" else ["commit"]) and _temps(live) == []
    # What is recorded is what Anki answered, not the guess: the next push has nothing to do.
    assert _records(live)["a-one"][7]["Answer"] == hashlib.sha256(b"Number one.").hexdigest()[:16]
    monkeypatch.setattr(push, "_expected_replies", expected)
    assert QUICK in live.push().output
    status = json.loads(live.run("status", "--json").output)
    assert all(not t["edited_in_anki"] for t in status["topics"])


def test_a_push_state_written_while_anki_imports_is_dropped_when_the_import_fails(live, staged, monkeypatch):
    import builder.anki.client as client

    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    state = (live.root / "decks.anki.lock").read_bytes()
    real = client.AnkiConnect.batch

    def refuse_import(self, actions, **kwargs):
        if any(a.name == "importPackage" for a in actions):
            raise client.AnkiError("Anki refused 'importPackage': test")
        return real(self, actions, **kwargs)

    monkeypatch.setattr(client.AnkiConnect, "batch", refuse_import)
    result = live.run("push")
    assert result.exit_code == 1 and "importPackage" in result.output
    assert staged in ([], ["discard"]) and _temps(live) == []
    assert (live.root / "decks.anki.lock").read_bytes() == state
    monkeypatch.setattr(client.AnkiConnect, "batch", real)
    assert "update: 1 (a-one)" in live.push().output


# -- pushes that decode only the changed topics' records -------------------------------------------


@pytest.fixture
def decoded(monkeypatch) -> list[str | None]:
    """The decks whose blocks of the push state each push decodes, in order (None: the whole file)."""
    import builder.anki.state as state

    decks: list[str | None] = []
    real = state._read_lines

    def read(target, lines, first, deck=None):
        decks.append(deck)
        return real(target, lines, first, deck)

    monkeypatch.setattr(state, "_read_lines", read)
    return decks


def _records(live) -> dict[str, list]:
    return {row[3]: row for row in live.state() if row[0] == "note"}


def test_an_edit_in_one_topic_decodes_only_its_block_and_an_edit_in_the_other_is_not_missed(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    beta = [line for line in (live.root / "decks.anki.lock").read_text().splitlines() if "Beta" in line]
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    out = live.push().output
    assert "update: 1 (a-one)" in out and "not read back: 4" in out
    assert decoded == [live.deck("Alpha")]
    assert [line for line in (live.root / "decks.anki.lock").read_text().splitlines() if "Beta" in line] == beta
    # Now the other topic: its block is decoded, and its edit reaches Anki.
    live.edit("cards/beta.yaml", "People use more of it.", "People use much more of it.")
    decoded.clear()
    out = live.push().output
    assert "update: 1 (b-claim)" in out and decoded == [live.deck("Beta")]
    assert live.field("b-claim", "Claim") == "People use much more of it."
    old = next(json.loads(line) for line in beta if '"b-claim"' in line)
    assert _records(live)["b-claim"][6] != old[6] and _records(live)["b-term"] == next(
        json.loads(line) for line in beta if '"b-term"' in line
    )
    assert QUICK in live.push().output


def test_an_anki_edit_in_a_topic_not_decoded_is_kept_and_becomes_a_conflict_when_its_entry_changes(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    note = live.notes()["b-claim"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Claim": "Anki's answer."}})
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    assert "update: 1 (a-one)" in live.push().output and decoded == [live.deck("Alpha")]
    assert live.field("b-claim", "Claim") == "Anki's answer."
    status = json.loads(live.run("status", "--json").output)
    beta = next(t for t in status["topics"] if t["topic"] == "beta")
    assert [e["id"] for e in beta["edited_in_anki"]] == ["b-claim"]
    # Its entry edited too: a conflict, and Anki's text stays.
    live.edit("cards/beta.yaml", "People use more of it.", "YAML's answer.")
    out = live.push().output
    assert "conflict, left as is (see `decks status`): 1 (b-claim)" in out
    assert live.field("b-claim", "Claim") == "Anki's answer."


def test_a_topic_file_removed_while_the_other_is_not_decoded(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    (live.root / "cards/beta.yaml").unlink()
    decoded.clear()
    out = live.push().output
    assert "remove (tag decks::removed, suspend): 2" in out and decoded == [live.deck("Beta")]
    notes = live.notes()
    assert all(REMOVED in notes[e]["tags"] for e in ("b-term", "b-claim")) and REMOVED not in notes["a-one"]["tags"]
    # The removed notes' records stay; the next edit decodes only its topic's block and removes nothing again.
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    out = live.push().output
    assert "update: 1 (a-one)" in out and "remove" not in out and live.deck("Alpha") in decoded
    assert {"b-term", "b-claim"} <= set(_records(live))


def test_a_topic_renamed_while_the_other_is_not_decoded(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    review = live.review("b-claim")
    before = live.history(review)
    live.edit("cards/beta.yaml", "title: Beta", "title: Gamma")
    decoded.clear()
    out = live.push().output
    assert f"rename deck: '{live.deck('Beta')}' -> '{live.deck('Gamma')}'" in out
    assert decoded == [live.deck("Beta")]
    assert {c["deckName"] for c in live.cards("b-claim")} == {live.deck("Gamma")}
    assert live.history(review) == before
    assert {row[5] for row in live.state() if row[0] == "note" and row[3].startswith("b-")} == {live.deck("Gamma")}
    assert QUICK in live.push().output
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    assert "update: 1 (a-one)" in live.push().output and decoded == [live.deck("Alpha")]


def test_a_note_line_damaged_in_a_block_not_decoded_reads_everything(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    note = live.notes()["b-claim"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Claim": "Anki's answer."}})
    state = live.root / "decks.anki.lock"
    # The record of b-claim, in the block of the topic not edited, made to say Anki holds that answer.
    _record_other_answer(state, "b-claim")
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    out = live.push().output
    # The check vouches for other lines: the file is decoded whole, every note read, nothing taken for new.
    assert decoded == [None] and "not read back" not in out and "add" not in out
    assert "update: 1 (a-one)" in out and "keep edits made in Anki (`decks pull` takes them): 1 (b-claim)" in out
    assert live.field("b-claim", "Claim") == "Anki's answer."
    # A line cut short is a damaged file: treated as absent, said so, and nothing in Anki is overwritten.
    data = state.read_bytes()
    state.write_bytes(data[: data.index(b'"b-claim"') + 20])
    live.edit("cards/alpha.yaml", "Number 1.", "Number 1!")
    result = live.run("push")
    assert result.exit_code == 0 and "is damaged" in result.output
    assert live.field("b-claim", "Claim") == "Anki's answer."
    assert "add" not in result.output.split("Done")[0].replace("address", "")


def test_a_block_map_damaged_in_the_check_decodes_everything(live, decoded):
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    live.push()
    check = json.loads(_push_check(live).read_text(encoding="utf-8"))
    blocks = check["profiles"]["test"]["blocks"]
    first, second = sorted(blocks.values())
    first[1] -= 3
    second[0] -= 3
    _push_check(live).write_text(json.dumps(check), encoding="utf-8")
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    out = live.push().output
    assert decoded == [None] and "update: 1 (a-one)" in out and "add" not in out
    assert live.field("a-one", "Answer") == "Number 1." and {"b-term", "b-claim"} <= set(_records(live))
    live.edit("cards/alpha.yaml", "Number 1.", "Number 1!")
    decoded.clear()
    assert "update: 1 (a-one)" in live.push().output and decoded == [live.deck("Alpha")]


def test_a_push_state_and_check_of_the_format_before_blocks_are_read_whole_then_by_block(live, decoded):
    live.push()
    note = live.notes()["b-claim"]
    live.anki.request("updateNoteFields", note={"id": note["noteId"], "fields": {"Claim": "Anki's answer."}})
    state = live.root / "decks.anki.lock"
    # As pushes wrote them before: note lines by entry, a check of version 1 with its tags inline.
    lines = state.read_text(encoding="utf-8").splitlines(keepends=True)
    notes = sorted((line for line in lines if line.startswith('["note"')), key=lambda line: json.loads(line)[3])
    state.write_text("".join([line for line in lines if not line.startswith('["note"')] + notes), encoding="utf-8")
    check = json.loads(_push_check(live).read_text(encoding="utf-8"))
    profile = check["profiles"]["test"]
    del profile["blocks"]
    profile["lines"] = hashlib.sha256("".join(notes).encode("utf-8")).hexdigest()[:16]
    check["decks-push-check"] = 1
    _push_check(live).write_text(json.dumps(check), encoding="utf-8")
    live.edit("cards/alpha.yaml", "The first number.", "Number one.")
    decoded.clear()
    out = live.push().output
    # Read whole, every note read back: the edit made in Anki is seen, nothing is misread as new.
    assert decoded == [None] and "not read back" not in out and "add" not in out
    assert "update: 1 (a-one)" in out and "keep edits made in Anki (`decks pull` takes them): 1 (b-claim)" in out
    decks = [row[5] for row in live.state() if row[0] == "note"]
    assert decks == sorted(decks)
    live.edit("cards/alpha.yaml", "Number one.", "Number 1.")
    decoded.clear()
    assert "update: 1 (a-one)" in live.push().output and decoded == [live.deck("Alpha")]
    assert live.field("b-claim", "Claim") == "Anki's answer."


# -- the request a push sends as the process starts (builder/anki/early.py) ---------------------------------


@pytest.fixture
def taken(monkeypatch) -> list[bool]:
    """Whether each push took the answer to its request sent as the process started, in order."""
    from builder.anki import early, push

    seen: list[bool] = []

    def take(*args):
        found = early.take(*args)
        seen.append(found is not None)
        return found

    monkeypatch.setattr(push, "take", take)
    yield seen
    early._pending = None


class _Proxy:
    """An HTTP proxy in front of Anki that counts the requests it sees, and can change the answers (``rewrite``),
    close the connection unanswered (``hang_up``), or hold every request after the first one matching
    ``hold_after`` has been answered: a push can then be killed at that point exactly, however fast the rest."""

    def __init__(self, target: str, rewrite=None, hang_up: bool = False, hold_after=None):
        proxy = self
        self.requests: list[dict] = []
        self.reached = threading.Event()
        self._release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the name http.server calls)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                asked = json.loads(body)
                proxy.requests.append(asked)
                if proxy.reached.is_set():
                    proxy._release.wait(60)
                    return
                if hang_up:
                    self.close_connection = True
                    return
                request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = response.read()
                if rewrite is not None:
                    answer = rewrite(answer)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                if hold_after is not None and hold_after(asked):
                    proxy.reached.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_push_takes_the_answer_to_the_request_it_sent_as_it_started_and_still_sees_anki_change(live, taken):
    live.push()
    assert QUICK in live.push().output
    assert taken == [True]  # the first push had no check to ask from: it took nothing, and asked for none
    notes = live.notes()
    # Changed in Anki between two pushes: each is seen through the answer asked for before the CLI loaded.
    live.anki.request("removeTags", notes=[notes["a-one"]["noteId"]], tags="numbers")
    out = live.push().output
    assert "retag: 1 (a-one)" in out and QUICK not in out and taken[-1] is True
    assert "numbers" in live.notes()["a-one"]["tags"]
    # A card suspended by hand stays suspended, but the push reads every note to find that out.
    live.anki.request("suspend", cards=notes["a-two"]["cards"])
    out = live.push().output
    assert "unchanged: 5" in out and QUICK not in out and taken[-1] is True
    live.anki.request("deleteNotes", notes=[notes["b-claim"]["noteId"]])
    out = live.push().output
    assert "add: 1 (b-claim)" in out and QUICK not in out and taken[-1] is True
    assert "b-claim" in live.notes()
    name = next(n for n in live.note_type_names() if n.startswith("Question"))
    live.anki.request("modelTemplateRename", modelName=name, oldTemplateName="Card", newTemplateName="Mine")
    out = live.push().output
    assert "card 'Mine' renamed to 'Card'" in out and taken[-1] is True
    assert QUICK in live.push().output and taken[-1] is True


def test_an_answer_asked_before_the_check_changed_is_not_taken(live, taken):
    from builder.anki import early

    live.push()
    argv = ["-C", str(live.root), "push", "--url", live.anki.url]
    # Sent for the check as it is now; then a push changes the check's searches (a-one's tags) before this
    # push reads it.
    send_early(argv)
    sent, early._pending = early._pending, None
    live.edit("cards/alpha.yaml", "tags: [numbers, basics]", "tags: [numbers, basics, more]")
    assert "retag: 1 (a-one)" in CliRunner().invoke(cli, argv).output
    early._pending = sent
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0 and QUICK in result.output
    assert taken[-1] is False
    # Anki then loses the new tag: the answer to the old searches would not have asked about it.
    live.anki.request("removeTags", notes=[live.notes()["a-one"]["noteId"]], tags="more")
    out = live.push().output
    assert "retag: 1 (a-one)" in out and taken[-1] is True
    assert "more" in live.notes()["a-one"]["tags"]


def test_an_answer_asked_for_another_project_is_not_taken(live, taken, tmp_path):
    other = LiveProject(tmp_path / "other", live.anki)
    other.push()
    live.push()
    # Asked for `other` (as a push run there would), then a push of this project runs.
    send_early(["-C", str(other.root), "push", "--url", live.anki.url])
    out = CliRunner().invoke(cli, ["-C", str(live.root), "push", "--url", live.anki.url]).output
    assert QUICK in out and taken[-1] is False
    # The other project's check file copied into this project's output folder: made for another project,
    # it is not this push's check, whatever was asked from it.
    shutil.copy(other.root / "output" / CHECK_NAME, live.root / "output" / CHECK_NAME)
    out = live.push().output
    assert QUICK not in out and "unchanged: 5" in out and taken[-1] is False
    assert QUICK in live.push().output and taken[-1] is True


def test_an_answer_from_another_profile_ends_the_push_as_it_always_did(live, taken):
    live.push()
    # Anki switched to another profile since the last push: the media folder names it.
    proxy = _Proxy(
        live.anki.url, rewrite=lambda answer: answer.replace(b"/test/collection.media", b"/Other/collection.media")
    )
    try:
        early = live.run("push", url=proxy.url)
        assert taken[-1] is True
        from builder.anki import early as module

        module._pending = None
        plain = CliRunner().invoke(cli, ["-C", str(live.root), "push", "--url", proxy.url])
        assert taken[-1] is False
    finally:
        proxy.close()
    assert early.exit_code == plain.exit_code == 1
    assert early.output == plain.output
    assert "Anki has profile 'Other' open, but this project was pushed to 'test'" in early.output
    assert QUICK in live.push().output


def test_anki_gone_before_the_push_starts_or_hanging_up_on_its_first_request(live, taken):
    live.push()
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "builder", "-C", str(live.root), "push", "--url", f"http://127.0.0.1:{port}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert f"cannot reach Anki at http://127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    # Answered by nothing: the request sent early fails as the push's own would, with the same message.
    proxy = _Proxy(live.anki.url, hang_up=True)
    try:
        early = live.run("push", url=proxy.url)
        assert taken[-1] is True and len(proxy.requests) == 1
        plain = CliRunner().invoke(cli, ["-C", str(live.root), "push", "--url", proxy.url])
        assert taken[-1] is False
    finally:
        proxy.close()
    assert early.exit_code == plain.exit_code == 1
    assert early.output == plain.output and "did not answer as AnkiConnect does" in early.output
    assert QUICK in live.push().output


_REPORT_TAKEN = """
import atexit, sys
from builder.anki import early
taken, loaded = [], []
def take(*args):
    found = early_take(*args)
    taken.append(found is not None)
    return found
def send_early(argv):
    loaded.append("click" in sys.modules)
    early_send(argv)
early_take, early.take = early.take, take
early_send, early.send_early = early.send_early, send_early
atexit.register(lambda: print("taken:", taken, "click loaded first:", loaded, file=sys.stderr))
atexit.register(lambda: print("click loaded at all:", "click" in sys.modules, file=sys.stderr))
sys.argv = ["decks", *sys.argv[1:]]
from builder.__main__ import main
main()
"""


def test_the_decks_command_sends_its_first_request_before_the_cli_loads(live):
    live.push()
    live.push()
    command = [sys.executable, "-c", _REPORT_TAKEN, "-C", str(live.root), "push", "--url", live.anki.url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and QUICK in result.stdout, result.stderr
    assert "taken: [True] click loaded first: [False]" in result.stderr
    # A plain push runs without Click at all (builder/cmdline.py).
    assert "click loaded at all: False" in result.stderr
    # A command line the look at it does not know (Click takes `--` as the end of the options): nothing is
    # sent early, and the push asks itself.
    result = subprocess.run([*command, "--dry-run", "--"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and QUICK in result.stdout, result.stderr
    assert "taken: [False]" in result.stderr and "click loaded at all: True" in result.stderr


_REPORT_ENDING = """
import atexit, os, sys
ended = []
real_exit = os._exit
def _exit(code):
    ended.append(code)
    print("ended without teardown:", code, file=sys.stderr)
    real_exit(code)
os._exit = _exit
atexit.register(lambda: print("exit handlers ran", file=sys.stderr))
sys.argv = ["decks", *sys.argv[1:]]
from builder.__main__ import main
main()
"""


def test_a_push_that_reported_ends_without_teardown_with_its_output_and_state_written(live):
    """A push (or dry run) that has said everything ends as a build does, after the exit handlers and with its
    output flushed through a pipe; the state it saved is there for the next push. A failed push exits as usual."""
    live.push()
    live.edit("cards/alpha.yaml", "The first number.", "The first counting number, said early.")
    command = [sys.executable, "-c", _REPORT_ENDING, "-C", str(live.root), "push", "--url", live.anki.url]
    for args in (["--dry-run"], []):
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "update: 1 (a-one)" in result.stdout
        assert ("Done:" in result.stdout) is not bool(args)
        assert result.stderr.endswith("exit handlers ran\nended without teardown: 0\n"), result.stderr
    assert live.field("a-one", "Answer") == "The first counting number, said early."
    # What that push saved is what the next one starts from: nothing left to read back.
    assert QUICK in live.push().output
    live.edit("cards/alpha.yaml", "The first counting number, said early.", "The first number.")
    result = subprocess.run([*command, "--profile", "nobody"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "ended without teardown" not in result.stderr, result.stderr
    assert "exit handlers ran" in result.stderr and "Traceback" not in result.stderr


def test_a_push_with_nothing_to_build_takes_its_config_from_the_build_record_only_while_it_holds(live, monkeypatch):
    """deck.yaml is read with PyYAML only when the build's no-change record does not vouch for it: edited after
    the record (a mistake, then a renamed root deck), or the record of another project copied with the files."""
    import shutil

    import builder.config as config_module

    loaded: list[Path] = []
    load = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda root: loaded.append(root) or load(root))
    live.push()
    loaded.clear()
    assert QUICK in live.push().output and loaded == []
    # A mistake in deck.yaml after the record: reported as without the record, and nothing done in Anki.
    live.edit("deck.yaml", f"project: {live.name}\n", f"project: {live.name.upper()}\n")
    result = live.run("push")
    assert result.exit_code == 1 and "deck.yaml:1:10: 'project' must be lowercase" in result.output
    assert loaded and "Traceback" not in result.output
    # The root deck renamed after the record: the push renames the topics' decks, as the new config says.
    live.edit("deck.yaml", f"project: {live.name.upper()}\n", f"project: {live.name}\n")
    old = live.root_deck
    live.edit("deck.yaml", f"root_deck: {old}\n", f"root_deck: {old} Moved\n")
    live.root_deck = f"{old} Moved"
    out = live.push().output
    assert f"rename deck: '{old}::Alpha' -> '{live.deck('Alpha')}'" in out
    assert {c["deckName"] for c in live.cards("a-one")} == {live.deck("Alpha")}
    loaded.clear()
    assert QUICK in live.push().output and loaded == []
    # A copy of the project, records and all, edited: its push reads its own deck.yaml and sees the edit.
    copy = live.root.parent / "copy"
    shutil.copytree(live.root, copy)
    path = copy / "cards/alpha.yaml"
    path.write_text(path.read_text().replace("The first number.", "The first, in the copy."))
    result = CliRunner().invoke(cli, ["-C", str(copy), "push", "--url", live.anki.url], catch_exceptions=False)
    assert result.exit_code == 0 and "update: 1 (a-one)" in result.output, result.output
    assert loaded == [copy.resolve()]
    assert live.field("a-one", "Answer") == "The first, in the copy."
