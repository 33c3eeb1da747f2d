"""Keeping a running Anki collection in step with the project, through the AnkiConnect add-on."""
