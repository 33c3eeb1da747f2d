"""The project config file (deck.yaml): it marks the project root and fixes identities."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from builder.projectroot import CONFIG_NAME
from builder.projectroot import find_root as find_root

if TYPE_CHECKING:
    import yaml

    from builder.yamlfile import YamlFile

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Anki stores ids as signed 64-bit integers; 1 is the id of Anki's Default objects.
MAX_ID = 2**63 - 1

_KEYS = ("project", "root_deck", "note_types", "cards", "templates", "output", "rules")


class Config:
    """A loaded, valid project config; every path is absolute."""

    def __init__(
        self,
        root: Path,
        project: str,
        root_deck: str,
        note_type_ids: dict[str, int],
        cards_dir: Path,
        templates_dir: Path,
        output_dir: Path,
        rules: dict[str, str] | None = None,
        source: bytes | None = None,
    ) -> None:
        self.root = root
        self.project = project
        self.root_deck = root_deck
        self.note_type_ids = note_type_ids
        self.cards_dir = cards_dir
        self.templates_dir = templates_dir
        self.output_dir = output_dir
        # Severity of each quality rule the project sets (rule name -> off | warning | error).
        self.rules: dict[str, str] = {} if rules is None else rules
        # The deck.yaml bytes this config was read from (None: not read from the file itself): what a build
        # stamps and signs, since the file may be saved again while the build runs.
        self.source = source

    def rel(self, path: Path) -> str:
        """A path as shown to users: relative to the project root when inside it."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def load_config(root: Path) -> Config:
    """Read and validate ``deck.yaml`` in ``root``; all problems are reported at once."""
    # Loaded here, not with the module: a push that the build's no-change record vouches for makes its config
    # from that record (``Config`` alone), without PyYAML.
    import yaml

    from builder.decknames import deck_name_problem
    from builder.errors import Problem, ProblemsError
    from builder.kinds import KINDS
    from builder.yamlfile import YamlFile

    root = root.resolve()
    doc = YamlFile(root / CONFIG_NAME, CONFIG_NAME, keep_bytes=True).read()
    if doc.root is None:
        if doc.empty:
            doc.problems.append(
                Problem(CONFIG_NAME, None, None, "is empty; it needs project, root_deck and note_types")
            )
        raise ProblemsError(doc.problems)
    keys = doc.mapping(doc.root, "the config", _KEYS)
    values: dict[str, object] = {}
    for name in ("project", "root_deck", "cards", "templates", "output"):
        if name in keys:
            values[name] = doc.text(keys[name][1], name)
    for name in ("project", "root_deck", "note_types"):
        if name not in keys and isinstance(doc.root, yaml.MappingNode):
            doc.error(doc.root, f"missing required key '{name}'")
    project = values.get("project")
    if isinstance(project, str) and not SLUG_RE.match(project):
        doc.error(keys["project"][1], "'project' must be lowercase letters, digits and dashes")
    root_deck = values.get("root_deck")
    if isinstance(root_deck, str):
        problem = deck_name_problem(root_deck, "root_deck", nested=False)
        if problem is None and root_deck != root_deck.strip():
            problem = "'root_deck' must be one deck name, without '::' or outer spaces"
        if problem is not None:
            doc.error(keys["root_deck"][1], problem)

    ids: dict[str, int] = {}
    if "note_types" in keys:
        node = keys["note_types"][1]
        given = doc.mapping(node, "note_types", tuple(KINDS))
        for kind in KINDS:
            if kind not in given:
                if given or not doc.problems:
                    doc.error(node, f"note_types: missing the id of the '{kind}' note type")
                continue
            value = doc.integer(given[kind][1], f"note_types.{kind}")
            if value is None:
                continue
            if not 1 < value <= MAX_ID:
                doc.error(given[kind][1], f"note_types.{kind}: id must be between 2 and 2^63-1, not {value}")
                continue
            ids[kind] = value
        seen: dict[int, str] = {}
        for kind, value in ids.items():
            if value in seen:
                doc.error(given[kind][1], f"note_types.{kind}: same id as note_types.{seen[value]}")
            seen[value] = kind

    rules = _rules(doc, keys["rules"][1]) if "rules" in keys else {}
    folders = {}
    for name in ("cards", "templates", "output", "media"):
        folders[name] = root / str(values.get(name) or name)
        if _inside(root, folders[name]):
            continue
        if isinstance(values.get(name), str):
            doc.error(keys[name][1], _outside_message(name))
        else:  # the default folder is a symbolic link out of the project
            message = f"{name}/ leads outside the project (a symbolic link); it must be a folder inside, so that {_WHY}"
            doc.problems.append(Problem(CONFIG_NAME, None, None, message))

    if doc.problems:
        raise ProblemsError(doc.problems)
    return Config(
        root=root,
        project=str(project),
        root_deck=str(root_deck),
        note_type_ids=ids,
        cards_dir=folders["cards"],
        templates_dir=folders["templates"],
        output_dir=folders["output"],
        rules=rules,
        source=doc.data,
    )


def _inside(root: Path, path: Path) -> bool:
    # Resolved, so that neither '..' nor a symbolic link leads out of the project.
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symbolic link loop
        return False


def _outside_message(key: str) -> str:
    hint = " (give -o/--output on the command line for a folder elsewhere)" if key == "output" else ""
    return f"'{key}' must be a folder inside the project, so that {_WHY}{hint}"


_WHY = "a build reads and writes nothing else"


def _rules(doc: YamlFile, node: yaml.Node) -> dict[str, str]:
    """The `rules:` mapping: known rule names to a severity; build rules cannot be relaxed."""
    import yaml

    from builder.rules import RULES, SEVERITIES
    from builder.yamlfile import suggest

    out: dict[str, str] = {}
    if not isinstance(node, yaml.MappingNode):
        doc.error(node, "'rules' must be a mapping of rule names to off, warning or error")
        return out
    for key_node, value_node in node.value:
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if name not in RULES:
            doc.error(key_node, f"rules: unknown rule '{name}'{suggest(str(name), tuple(RULES))}")
            continue
        # `off` is YAML 1.1's false: read the words as written.
        value = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
        if value not in SEVERITIES:
            doc.error(value_node, f"rules.{name}: must be one of {', '.join(SEVERITIES)}")
        elif RULES[name].build and value != "error":
            doc.error(value_node, f"rules.{name}: the build enforces this rule; it is always an error")
        else:
            out[name] = value
    return out
