"""What a re-import into Anki will not do by itself, told plainly from the build state.

Anki matches notes by GUID and decks by name, and an import never deletes or moves
anything: a removed entry's note stays, a renamed topic's existing cards stay in the
old deck, an entry moved to another topic keeps its cards in the old deck. The build state
remembers which deck each note was built into, so the build can say what to do in Anki.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from builder.config import Config
from builder.entries import Topic
from builder.identity import deck_name, entry_guid, note_type_id
from builder.kinds import KINDS, note_type_name
from builder.manifest import Manifest

MIGRATION_DOC = "docs/migration.md"


class Previous:
    """Where a note was built last time: its deck and Anki note id."""

    __slots__ = ("deck", "note_id")

    def __init__(self, deck: str, note_id: int) -> None:
        self.deck = deck
        self.note_id = note_id


class ReimportPlan:
    """What to tell the user, and what the build state should record of it (the build applies it)."""

    def __init__(self, places: dict[str, str] | None = None) -> None:
        self.notices: list[str] = []
        # GUID -> the deck the note is built into now.
        self.places: dict[str, str] = {} if places is None else places
        # Notes told as gone: the state forgets them, so they are told once.
        self.forget: list[str] = []

    def apply(self, manifest: Manifest) -> None:
        """Record this plan in a build state (the build's to call: it is the state's one writer)."""
        for guid, deck in self.places.items():
            manifest.place(guid, deck)
        manifest.forget(self.forget)


def previous_placement(manifest: Manifest) -> dict[str, Previous]:
    """Each known note's deck and id, read before this build stamps anything."""
    return {guid: Previous(s.deck, s.id) for guid, s in manifest.notes.items()}


def reimport_notices(
    previous: dict[str, Previous],
    placed: dict[str, str],
    *,
    complete: bool,
    decks: set[str] | None = None,
    renamed: Mapping[str, str] | None = None,
) -> ReimportPlan:
    """Notices for the user, and the decks and removals to record.

    ``placed`` maps the GUID of every note built now to its deck; ``complete`` is true when
    every topic was built, so that a note missing from ``placed`` is really gone. An incremental
    build passes only the notes it read again (``previous`` then holds those and the gone ones),
    with ``decks``, every deck built now. ``renamed`` maps old notes started afresh under a new
    id (``--new-identity``) to that id: they are not told as removed.
    """
    plan = ReimportPlan(places=dict(placed))
    notices = plan.notices
    moves: dict[tuple[str, str], list[int]] = defaultdict(list)
    for guid, deck in placed.items():
        old = previous.get(guid)
        if old is not None and old.deck and old.deck != deck:
            moves[(old.deck, deck)].append(old.note_id)
    current = decks if decks is not None else set(placed.values())
    destinations: dict[str, set[str]] = defaultdict(set)
    for old_deck, new_deck in moves:
        destinations[old_deck].add(new_deck)
    for (old_deck, new_deck), ids in sorted(moves.items()):
        # A deck whose notes all went to one new deck, and which is built no more, was renamed.
        if complete and old_deck not in current and destinations[old_deck] == {new_deck}:
            notices.append(
                f"deck '{old_deck}' is now '{new_deck}': on import Anki adds new cards to '{new_deck}' "
                f"and leaves existing cards in '{old_deck}'. Rename that deck to '{new_deck}' in Anki "
                "before importing."
            )
        else:
            notices.append(
                f"{_notes(len(ids))} moved from '{old_deck}' to '{new_deck}': Anki keeps their existing "
                f"cards in '{old_deck}'. Move them in Anki after importing (Browse, search {_search(ids)})."
            )

    if complete:
        renamed = renamed or {}
        gone = sorted(guid for guid in previous if guid not in placed)
        afresh = [guid for guid in gone if guid in renamed]
        removed = [guid for guid in gone if guid not in renamed]
        if afresh:
            ids = [previous[guid].note_id for guid in afresh]
            notices.append(
                f"{_notes(len(ids))} started afresh under a new id ({NEW_IDENTITY_FLAG}): Anki keeps the old "
                f"{'note' if len(ids) == 1 else 'notes'} with {'its' if len(ids) == 1 else 'their'} review "
                f"history (Browse, search {_search(ids)}); the new {'one starts' if len(ids) == 1 else 'ones start'} "
                "without it."
            )
        if removed:
            ids = [previous[guid].note_id for guid in removed]
            notices.append(
                f"{_notes(len(ids))} no longer in any topic: Anki never deletes notes on import, so "
                f"{'it stays' if len(ids) == 1 else 'they stay'} in your collection with "
                f"{'its' if len(ids) == 1 else 'their'} review history. To remove "
                f"{'it' if len(ids) == 1 else 'them'}, delete in Anki (Browse, search {_search(ids)})."
            )
        # Told once: the build state forgets them, so later builds stay quiet.
        plan.forget = gone
    return plan


def reimport_notices_for(
    config: Config, topics: list[Topic], manifest: Manifest, *, removals: bool = True
) -> list[str]:
    """What the next full build of these topics will say about moves, renames and (optionally) removals.

    Nothing is recorded: the state is only read.
    """
    known = manifest.known_guids() if manifest.project in (None, config.project) else {}
    placed = {
        entry_guid(config.project, e.id, e.was, known): deck_name(config.root_deck, t.title)
        for t in topics
        for e in t.entries
    }
    previous = previous_placement(manifest)
    if not removals:
        previous = {guid: p for guid, p in previous.items() if guid in placed}
    return reimport_notices(previous, placed, complete=True).notices


def earlier_layout_notices(config: Config, manifest: Manifest) -> list[str]:
    """What to do in Anki when the build state shows note types of the first layout generation.

    The state is the lock, or an older state file an output folder still holds beside a lock (a clone
    that built decks before the lock existed). Told by the build that replaces those note types in the
    state, or removes that file (so once), and by `decks check` before it.
    """
    leftovers = []
    for name, kind in KINDS.items():
        configured = config.note_type_ids[name]
        for records in (manifest.note_types, manifest.earlier_note_types):
            old = records.get(name)
            if old is None or old.id != configured or note_type_id(configured) == configured:
                continue
            gone = [f for f in old.fields if f not in kind.field_names]
            if gone:
                leftovers.append(f"{', '.join(repr(f) for f in gone)} of '{note_type_name(kind, config.project)}'")
                break
    if not leftovers:
        return []
    return [
        "the note types are new (fields named for their content, layout in the card templates). Notes "
        "already in your Anki collection move to them, with their review history, when you import these "
        "decks with 'Merge note types' ticked (File > Import, Anki 23.10 or later); without it Anki skips "
        "them as conflicting. After that import, delete the fields it leaves empty (Tools > Manage Note "
        f"Types > Fields): {'; '.join(leftovers)}. Later imports need no option. See {MIGRATION_DOC}."
    ]


def emptied_cards_notice(emptied: list[tuple[str, int, str, list[int]]]) -> str:
    """What to do in Anki about notes that make fewer cards than before: (path, line, entry, card ordinals gone).

    An import adds a note's new cards but never deletes one: a card whose cloze number or reverse
    side is gone stays in the collection, empty ("No cloze 3 found on card"), until Empty Cards deletes it.
    """
    items = sorted(emptied)
    named = ", ".join(
        f"{path}:{line} '{entry}' (card{'s' if len(ords) > 1 else ''} {', '.join(str(o + 1) for o in ords)})"
        for path, line, entry, ords in items
    )
    cards = sum(len(ords) for *_, ords in items)
    one = cards == 1
    return (
        f"{_count(len(items), 'entry', 'entries')} now make{'s' if len(items) == 1 else ''} fewer cards than "
        f"before: {named}. Importing the package does not delete {'that card' if one else 'those cards'}: Anki "
        f'keeps {"it" if one else "them"}, empty ("No cloze N found on card", "The front of this card is blank"), with '
        f"{'its' if one else 'their'} review history. After importing, delete "
        f"{'it' if one else 'them'} in Anki with Tools > Empty Cards; the notes and their other cards stay."
    )


def _count(count: int, one: str, many: str) -> str:
    return f"1 {one}" if count == 1 else f"{count} {many}"


def _notes(count: int) -> str:
    return "1 note" if count == 1 else f"{count} notes"


def _search(note_ids: list[int]) -> str:
    return "nid:" + ",".join(str(i) for i in sorted(note_ids))


NEW_IDENTITY_FLAG = "--new-identity"
