"""``decks status``: per topic, what differs between the YAML and the collection."""

from __future__ import annotations

from builder.anki.plan import Plan, TopicInfo


def status_data(plan: Plan, topics: list[TopicInfo]) -> dict:
    """The status as JSON-ready data: per topic (by deck), the entries in each state."""
    by_deck = {t.deck: t for t in topics}
    out: dict[str, dict] = {}

    def topic_of(deck: str) -> dict:
        info = by_deck.get(deck)
        key = info.slug if info else deck
        return out.setdefault(
            key,
            {
                "topic": info.slug if info else None,
                "file": info.path if info else None,
                "deck": deck,
                "new": [],
                "changed_in_yaml": [],
                "edited_in_anki": [],
                "conflicts": [],
                "removed": [],
                "moved": [],
                "anki_tags": [],
            },
        )

    for c in plan.added:
        topic_of(c.deck)["new"].append(c.entry)
    for c in plan.updated:
        topic_of(c.deck)["changed_in_yaml"].append(c.entry)
    for c in plan.edited_in_anki:
        topic_of(c.deck)["edited_in_anki"].append(
            {"id": c.entry, "fields": {name: {"yaml": y, "anki": a} for name, (y, a) in c.fields.items()}}
        )
    for c in plan.conflicts:
        topic_of(c.deck)["conflicts"].append(
            {"id": c.entry, "fields": {name: {"yaml": y, "anki": a} for name, (y, a) in c.fields.items()}}
        )
    for c in plan.removed:
        topic_of(c.deck)["removed"].append(c.entry)
    for c in plan.moved:
        topic_of(c.deck)["moved"].append({"id": c.entry, "from": c.old_deck})
    for c in plan.anki_tags:
        topic_of(c.deck)["anki_tags"].append({"id": c.entry, "tags": c.tags_added_in_anki})
    return {
        "profile": plan.profile,
        "unchanged": plan.unchanged,
        "topics": [out[k] for k in sorted(out)],
        "renamed_decks": [{"from": a, "to": b} for a, b in sorted(plan.renamed_decks.items())],
        "note_types": [c.describe() for c in plan.note_types],
        "in_step": not any(
            (
                plan.added,
                plan.updated,
                plan.edited_in_anki,
                plan.conflicts,
                plan.removed,
                plan.moved,
                plan.restored,
                plan.retagged,
                plan.renamed_decks,
                plan.note_types,
            )
        ),
    }


def status_lines(data: dict) -> list[str]:
    """The status as a user reads it."""
    lines = []
    labels = (
        ("new", "new (not in Anki yet)"),
        ("changed_in_yaml", "changed in YAML since the last push"),
        ("edited_in_anki", "edited in Anki since the last push"),
        ("conflicts", "changed on both sides (conflict)"),
        ("removed", "removed from the YAML"),
        ("moved", "moved here from another topic"),
        ("anki_tags", "carrying tags added in Anki"),
    )
    for topic in data["topics"]:
        lines.append(f"{topic['file'] or topic['deck']} ({topic['deck']})")
        for key, label in labels:
            items = topic[key]
            if not items:
                continue
            names = []
            for item in items:
                if isinstance(item, str):
                    names.append(item)
                elif key == "moved":
                    names.append(f"{item['id']} (from '{item['from']}')")
                elif key == "anki_tags":
                    names.append(f"{item['id']} ({' '.join(item['tags'])})")
                else:
                    names.append(item["id"])
            lines.append(f"  {label}: {len(items)}: {', '.join(names)}")
            if key == "conflicts":
                for item in items:
                    for name, texts in item["fields"].items():
                        lines.append(f"    {item['id']} {name}:")
                        lines.append(f"      YAML: {texts['yaml']}")
                        lines.append(f"      Anki: {texts['anki']}")
    for rename in data["renamed_decks"]:
        lines.append(f"deck renamed: '{rename['from']}' -> '{rename['to']}'")
    for change in data["note_types"]:
        lines.append(f"note type to change in place: {change}")
    lines.append(
        f"{data['unchanged']} notes in step"
        + ("; nothing to push." if data["in_step"] else "; `decks push` applies the rest.")
    )
    return lines
