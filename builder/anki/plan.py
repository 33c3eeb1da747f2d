"""What a push would change in the collection, and what ``decks status`` shows: decided, never done here.

Each note of the build is compared three ways: with the collection, and both with what the last push
left (``decks.anki.lock``). A note whose fields in Anki already read as the build's is in step,
whatever else happened; otherwise a change on one side only is taken from that side, and a change on
both sides is a conflict that nothing overwrites unless asked.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Set

from builder.anki.apkg import BuiltPackages
from builder.anki.live import ENTRY_FIELD, REMOVED_TAG, Live, LiveNote
from builder.anki.state import PushedNote, built_hash, text_hash


class TopicInfo:
    """A topic file of the project: its deck and how many entries it has."""

    # This module's records are plain classes rather than dataclasses, which would cost a push the making of
    # their methods at import.
    __slots__ = ("slug", "path", "title", "deck", "entries")

    def __init__(self, slug: str, path: str, title: str, deck: str, entries: int) -> None:
        self.slug = slug
        self.path = path
        self.title = title
        self.deck = deck
        self.entries = entries


class NoteChange:
    """One note and what happens to it."""

    __slots__ = ("guid", "entry", "deck", "note_id", "old_deck", "fields", "tags_added_in_anki")

    def __init__(
        self,
        guid: str,
        entry: str,
        deck: str,
        note_id: int | None = None,
        old_deck: str = "",
        fields: dict[str, tuple[str, str]] | None = None,
        tags_added_in_anki: list[str] | None = None,
    ) -> None:
        self.guid = guid
        self.entry = entry
        self.deck = deck
        self.note_id = note_id
        # For moves: the deck its cards leave.
        self.old_deck = old_deck
        # For conflicts and Anki edits: {field: (YAML's text, Anki's text)}.
        self.fields: dict[str, tuple[str, str]] = {} if fields is None else fields
        self.tags_added_in_anki: list[str] = [] if tags_added_in_anki is None else tags_added_in_anki


class NoteTypeChange:
    """Changes to a note type applied in place, so that the import keeps using it."""

    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name
        self.renamed_fields: list[tuple[str, str]] = []
        self.added_fields: list[tuple[str, int]] = []
        self.renamed_templates: list[tuple[str, str]] = []
        self.added_templates: list[tuple[str, str, str]] = []
        # Field order to set afterwards, when it differs.
        self.field_order: tuple[str, ...] = ()
        # Field names in Anki the project no longer has (a push refuses these).
        self.dropped: list[str] = []

    @property
    def empty(self) -> bool:
        return not (self.renamed_fields or self.added_fields or self.renamed_templates or self.added_templates)

    def describe(self) -> str:
        parts = [f"field '{a}' renamed to '{b}'" for a, b in self.renamed_fields]
        parts += [f"field '{a}' added" for a, _ in self.added_fields]
        parts += [f"card '{a}' renamed to '{b}'" for a, b in self.renamed_templates]
        parts += [f"card '{a}' added" for a, _, _ in self.added_templates]
        return f"{self.name}: " + ", ".join(parts)


class Plan:
    """Everything a push would do, and what it found."""

    def __init__(
        self,
        profile: str,
        added: list[NoteChange] | None = None,
        updated: list[NoteChange] | None = None,
        moved: list[NoteChange] | None = None,
        renamed_decks: dict[str, str] | None = None,
        removed: list[NoteChange] | None = None,
        already_removed: list[NoteChange] | None = None,
        restored: list[NoteChange] | None = None,
        retagged: list[NoteChange] | None = None,
        edited_in_anki: list[NoteChange] | None = None,
        conflicts: list[NoteChange] | None = None,
        note_types: list[NoteTypeChange] | None = None,
        unchanged: int = 0,
        anki_tags: list[NoteChange] | None = None,
        strangers: int = 0,
        refusals: list[str] | None = None,
        tags: dict[str, tuple[str, ...]] | None = None,
        matched: dict[str, int] | None = None,
        card_moves: dict[int, str] | None = None,
        unsuspend: list[int] | None = None,
        suspend: list[int] | None = None,
        steady: set[str] | None = None,
        quick: bool = False,
        unread: int = 0,
    ) -> None:
        self.profile = profile
        self.added: list[NoteChange] = [] if added is None else added
        self.updated: list[NoteChange] = [] if updated is None else updated
        self.moved: list[NoteChange] = [] if moved is None else moved
        # Old deck -> new deck, for topics renamed (every note of the old deck went to the new one).
        self.renamed_decks: dict[str, str] = {} if renamed_decks is None else renamed_decks
        self.removed: list[NoteChange] = [] if removed is None else removed
        # Removed notes already tagged and suspended by an earlier push.
        self.already_removed: list[NoteChange] = [] if already_removed is None else already_removed
        self.restored: list[NoteChange] = [] if restored is None else restored
        self.retagged: list[NoteChange] = [] if retagged is None else retagged
        self.edited_in_anki: list[NoteChange] = [] if edited_in_anki is None else edited_in_anki
        self.conflicts: list[NoteChange] = [] if conflicts is None else conflicts
        self.note_types: list[NoteTypeChange] = [] if note_types is None else note_types
        self.unchanged = unchanged
        # Notes carrying tags added in Anki (not the project's own).
        self.anki_tags: list[NoteChange] = [] if anki_tags is None else anki_tags
        # Notes of the project's note types that no push made and no entry builds: left alone.
        self.strangers = strangers
        # Why removals are refused, when they are.
        self.refusals: list[str] = [] if refusals is None else refusals
        # guid -> the tags the note must carry when imported or retagged.
        self.tags: dict[str, tuple[str, ...]] = {} if tags is None else tags
        # guid -> live note id, for every note of the build found in the collection.
        self.matched: dict[str, int] = {} if matched is None else matched
        # Deck each moved card goes to: card id -> deck.
        self.card_moves: dict[int, str] = {} if card_moves is None else card_moves
        # Cards to unsuspend (entries back in the YAML) and to suspend (removed).
        self.unsuspend: list[int] = [] if unsuspend is None else unsuspend
        self.suspend: list[int] = [] if suspend is None else suspend
        # GUIDs whose push record stays as it is: same note, deck, entry and tags, built and held as recorded.
        self.steady: set[str] = set() if steady is None else steady
        # Decided from the push state's check alone: neither the build nor the collection's note ids, note types,
        # tags and suspension changed since the last push, so no note was read (edits of fields in Anki included).
        self.quick = quick
        # Notes counted unchanged without being read back from Anki (``trusted``, or all of them when ``quick``).
        self.unread = unread

    @property
    def to_import(self) -> list[NoteChange]:
        return self.added + self.updated

    def changes_anything(self) -> bool:
        return bool(
            self.added
            or self.updated
            or self.moved
            or self.removed
            or self.restored
            or self.retagged
            or self.note_types
            or self.renamed_decks
            or self.card_moves
        )


_TAG_RE = re.compile(r"<(/?)(b|strong|i|em)\b[^>]*>", re.IGNORECASE)
_NAMES = {"b": "strong", "i": "em"}


def normalize(text: str) -> str:
    """A field's HTML as it reads: Anki's editor and our Markdown spell bold, italics and spaces apart."""
    text = _TAG_RE.sub(lambda m: f"<{m.group(1)}{_NAMES.get(m.group(2).lower(), m.group(2).lower())}>", text)
    text = text.replace("&nbsp;", " ").replace("\xa0", " ").replace("<br />", "<br>").replace("<br/>", "<br>")
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


def _same_text(built: str, live: str) -> bool:
    """Whether two field values read alike; equal strings need no normalizing (nearly every field of a push)."""
    return built == live or normalize(built) == normalize(live)


def _fields_match(built: dict[str, str], live: dict[str, str]) -> bool:
    return all(_same_text(value, live.get(name, "")) for name, value in built.items())


def _anki_hashes(live: LiveNote, names) -> dict[str, str]:
    return {name: text_hash(live.fields.get(name, "")) for name in names}


def _fold(tags) -> set[str]:
    return {t.casefold() for t in tags}


def match_notes(
    built: BuiltPackages, live: Live, pushed: dict[str, PushedNote], trusted: Set[str] = frozenset()
) -> dict[str, LiveNote]:
    """Which note in the collection is which of ours (by GUID).

    Anki's search cannot find a GUID, so: by the note id the last push recorded, then by the note
    id of the package (Anki keeps it on import unless the collection already used it) when that
    note's entry id agrees, then by the note's "Entry ID" field. Only notes of the project's own
    note types are candidates.
    """
    found: dict[str, LiveNote] = {}
    claimed: set[int] = set()

    def take(guid: str, note: LiveNote | None) -> None:
        if note is not None and note.id not in claimed and guid not in found:
            found[guid] = note
            claimed.add(note.id)

    for guid, record in pushed.items():
        if guid not in trusted:
            take(guid, live.notes.get(record.note_id))
    for guid, note in built.notes.items():
        if guid in trusted:
            continue
        candidate = live.notes.get(note.id)
        if candidate is not None and candidate.fields.get(ENTRY_FIELD, note.entry).strip() in (note.entry, ""):
            take(guid, candidate)
    by_entry = {n.entry: guid for guid, n in built.notes.items() if n.entry and guid not in trusted}
    for note in live.notes.values():
        guid = by_entry.get(note.fields.get(ENTRY_FIELD, "").strip())
        if guid is not None:
            take(guid, note)
    return found


def make_plan(
    built: BuiltPackages,
    topics: list[TopicInfo],
    live: Live,
    pushed: dict[str, PushedNote],
    *,
    overwrite: bool = False,
    trusted: Set[str] = frozenset(),
    elsewhere: int = 0,
) -> Plan:
    """Decide what a push changes: notes added, updated, moved, removed, retagged; note types changed.

    GUIDs in ``trusted`` were not read from Anki: the caller found their notes as the last push left them
    (same build, same note ids, tags and suspension in Anki), so they count as unchanged. ``elsewhere``
    counts the build's notes not in ``built`` at all (their packages and records were left unread), which
    the caller counts as unchanged itself.
    """
    plan = Plan(live.profile)
    _plan_note_types(plan, built, live)

    live_by_guid = match_notes(built, live, pushed, trusted)
    claimed = {note.id for note in live_by_guid.values()}
    plan.strangers = len(live.notes) - len(claimed)

    # Notes not read back are counted first: only the others are compared, in entry order.
    unread = [guid for guid in built.notes if guid in trusted]
    plan.unchanged += len(unread)
    plan.unread += len(unread)
    plan.steady.update(unread)
    for guid in unread:
        plan.matched[guid] = pushed[guid].note_id
    for guid, note in sorted(
        ((guid, note) for guid, note in built.notes.items() if guid not in trusted), key=lambda item: item[1].entry
    ):
        entry = note.entry
        record = pushed.get(guid)
        current = live_by_guid.get(guid)
        change = NoteChange(guid, entry, note.deck)
        project_tags = tuple(note.tags)
        if current is None:
            plan.tags[guid] = project_tags
            plan.added.append(change)
            continue
        change.note_id = current.id
        plan.matched[guid] = current.id
        old_project = _fold(record.tags if record else note.tags) | _fold(note.tags) | {REMOVED_TAG}
        kept = [t for t in current.tags if t.casefold() not in old_project]
        wanted = tuple(project_tags) + tuple(kept)
        plan.tags[guid] = wanted
        if kept:
            plan.anki_tags.append(NoteChange(guid, entry, note.deck, current.id, tags_added_in_anki=kept))

        in_step = _fields_match(note.fields, current.fields)
        yaml_changed = record is None or built_hash(note.fields, note.tags) != record.built
        anki_edited = record is None or _anki_hashes(current, record.fields) != record.fields
        if (
            record is not None
            and not yaml_changed
            and not anki_edited
            and record.note_id == current.id
            and record.deck == note.deck
            and record.entry == entry
            and record.tags == list(note.tags)
            and record.fields.keys() == note.fields.keys()
        ):
            plan.steady.add(guid)
        differing = (
            {}
            if in_step
            else {
                name: (value, current.fields.get(name, ""))
                for name, value in note.fields.items()
                if not _same_text(value, current.fields.get(name, ""))
            }
        )
        if in_step:
            if _fold(current.tags) != _fold(wanted):
                plan.retagged.append(change)
            else:
                plan.unchanged += 1
        elif yaml_changed and anki_edited and not overwrite:
            change.fields = differing
            plan.conflicts.append(change)
        elif yaml_changed:
            plan.updated.append(change)
        else:
            change.fields = differing
            plan.edited_in_anki.append(change)
            if _fold(current.tags) != _fold(wanted):
                plan.retagged.append(change)

        if any(t.casefold() == REMOVED_TAG for t in current.tags):
            plan.restored.append(change)
            plan.unsuspend += sorted(current.suspended)

        # Moves follow the topic an entry is in: the cards left in the deck of the last push go along.
        if record is not None and record.deck and record.deck != note.deck:
            cards = current.decks.get(record.deck, [])
            if cards:
                moved = NoteChange(guid, entry, note.deck, current.id, old_deck=record.deck)
                plan.moved.append(moved)
                for card in cards:
                    plan.card_moves[card] = note.deck

    # A deck of the last push that is built no more, whose notes all went to one deck, was renamed:
    # told from the push state, not from cards left to move, so a re-run after an interrupted push
    # still removes the emptied old deck.
    built_decks = {n.deck for n in built.notes.values()}
    targets: dict[str, set[str]] = defaultdict(set)
    for guid, record in pushed.items():
        note = built.notes.get(guid)
        if note is not None and record.deck and record.deck != note.deck:
            targets[record.deck].add(note.deck)
    for old, new in targets.items():
        if old not in built_decks and len(new) == 1 and old in live.decks:
            plan.renamed_decks[old] = next(iter(new))

    _plan_removals(plan, built, topics, live, pushed, elsewhere)
    return plan


def _plan_removals(plan, built, topics, live, pushed, elsewhere) -> None:
    gone = sorted((guid, record) for guid, record in pushed.items() if guid not in built.notes)
    present = [(guid, record, live.notes[record.note_id]) for guid, record in gone if record.note_id in live.notes]
    if not present:
        return
    if not built.notes and not elsewhere:
        plan.refusals.append(
            f"the project has no entries, while Anki holds {len(present)} of its notes: push removes nothing"
        )
        return
    empty = {t.deck: t for t in topics if t.entries == 0}
    for deck, topic in sorted(empty.items()):
        count = sum(1 for _, record, _ in present if record.deck == deck)
        if count:
            plan.refusals.append(
                f"{topic.path} has no entries, while Anki holds {count} of its notes in '{deck}': push removes "
                "nothing (delete the file to remove its notes)"
            )
    for guid, record, note in present:
        change = NoteChange(guid, record.entry, record.deck, note.id)
        tagged = any(t.casefold() == REMOVED_TAG for t in note.tags)
        if tagged and set(note.cards) <= note.suspended:
            plan.already_removed.append(change)
        else:
            plan.removed.append(change)
            plan.suspend += [c for c in note.cards if c not in note.suspended]


def _plan_note_types(plan: Plan, built: BuiltPackages, live: Live) -> None:
    for mid, want in sorted(built.note_types.items()):
        have = live.note_types.get(mid)
        if have is None:
            continue
        change = NoteTypeChange(mid, have.name)
        fields = _rename_or_add(list(have.fields), list(want.fields), change.renamed_fields, change.dropped)
        change.added_fields = [(name, want.fields.index(name)) for name in fields]
        if tuple(_after(have.fields, change)) != want.fields:
            change.field_order = want.fields
        templates = _rename_or_add(list(have.templates), list(want.template_names), change.renamed_templates, [])
        change.added_templates = [t for t in want.templates if t[0] in templates]
        if not change.empty or change.dropped:
            plan.note_types.append(change)


def _rename_or_add(have: list[str], want: list[str], renamed: list, dropped: list) -> list[str]:
    """Names to add; pairs renamed in place (a name gone where a new one stands); names dropped."""
    gone = [name for name in have if name not in want]
    new = [name for name in want if name not in have]
    for old in list(gone):
        position = have.index(old)
        if position < len(want) and want[position] in new:
            renamed.append((old, want[position]))
            gone.remove(old)
            new.remove(want[position])
    dropped.extend(gone)
    return new


def _after(fields: tuple[str, ...], change: NoteTypeChange) -> list[str]:
    names = dict(change.renamed_fields)
    out = [names.get(name, name) for name in fields]
    for name, index in sorted(change.added_fields, key=lambda item: item[1]):
        out.insert(min(index, len(out)), name)
    return out
