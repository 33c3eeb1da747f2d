"""Build Anki decks from YAML topic files."""

__version__ = "0.1.0"
