"""What a re-import into Anki will not do by itself, told plainly from the build state.

Anki matches notes by GUID and decks by name, and an import never deletes or moves
anything: a removed entry's note stays, a renamed topic's existing cards stay in the
old deck, an entry moved to another topic keeps its cards in the old deck. The manifest
remembers which deck each note was built into, so the build can say what to do in Anki.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from builder.config import Config
from builder.manifest import MANIFEST_NAME, Manifest
from builder.model import Topic
from builder.package import deck_name, note_guid


@dataclass(frozen=True)
class Previous:
    """Where a note was built last time: its deck and Anki note id."""

    deck: str
    note_id: int


def previous_placement(manifest: Manifest) -> dict[str, Previous]:
    """Each known note's deck and id, read before this build stamps anything."""
    return {guid: Previous(s.deck, s.id) for guid, s in manifest.notes.items()}


def reimport_notices(
    manifest: Manifest,
    previous: dict[str, Previous],
    placed: dict[str, str],
    *,
    complete: bool,
    decks: set[str] | None = None,
) -> list[str]:
    """Notices for the user, and the manifest updated to this build's decks.

    ``placed`` maps the GUID of every note built now to its deck; ``complete`` is true when
    every topic was built, so that a note missing from ``placed`` is really gone. An incremental
    build passes only the notes it read again (``previous`` then holds those and the gone ones),
    with ``decks``, every deck built now.
    """
    notices = []
    if manifest.fresh and placed:
        notices.append(
            f"no earlier build state here ({MANIFEST_NAME}): if these decks are already in your Anki "
            "collection, importing them overwrites edits made in Anki (review history is kept). "
            f"Keep {MANIFEST_NAME} with the decks to avoid this."
        )

    moves: dict[tuple[str, str], list[int]] = defaultdict(list)
    for guid, deck in placed.items():
        old = previous.get(guid)
        if old is not None and old.deck and old.deck != deck:
            moves[(old.deck, deck)].append(old.note_id)
        manifest.place(guid, deck)
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
        gone = sorted(guid for guid in previous if guid not in placed)
        if gone:
            ids = [previous[guid].note_id for guid in gone]
            notices.append(
                f"{_notes(len(ids))} no longer in any topic: Anki never deletes notes on import, so "
                f"{'it stays' if len(ids) == 1 else 'they stay'} in your collection with "
                f"{'its' if len(ids) == 1 else 'their'} review history. To remove "
                f"{'it' if len(ids) == 1 else 'them'}, delete in Anki (Browse, search {_search(ids)})."
            )
            # Told once: the build state forgets them, so later builds stay quiet.
            manifest.forget(gone)
    return notices


def reimport_notices_for(
    config: Config, topics: list[Topic], manifest: Manifest, *, removals: bool = True
) -> list[str]:
    """What the next full build of these topics will say about moves, renames and (optionally) removals.

    The manifest is changed in memory only; the notice about missing build state is left out,
    since before the first build (in CI, say) it would be noise.
    """
    placed = {note_guid(config.project, e.id): deck_name(config, t.title) for t in topics for e in t.entries}
    previous = previous_placement(manifest)
    if not removals:
        previous = {guid: p for guid, p in previous.items() if guid in placed}
    notices = reimport_notices(manifest, previous, placed, complete=True)
    return notices[1:] if manifest.fresh and placed else notices


def _notes(count: int) -> str:
    return "1 note" if count == 1 else f"{count} notes"


def _search(note_ids: list[int]) -> str:
    return "nid:" + ",".join(str(i) for i in sorted(note_ids))
