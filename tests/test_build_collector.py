"""The cyclic garbage collector after a build: what is alive as the command's one build ends is frozen, never
walked again, since turned back on the collector would walk every object the build made; `--watch` builds
again and again in one process, and freezes nothing."""

from __future__ import annotations

import gc

import pytest

import builder.build
from builder.build import build
from builder.config import load_config


@pytest.fixture
def unfrozen():
    """Whatever a test freezes goes back to the collector after it."""
    yield
    gc.unfreeze()


def test_a_build_freezes_what_is_alive_only_when_asked(project, unfrozen):
    config = load_config(project.root)
    gc.unfreeze()
    build(config)
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    (project.root / "decks.lock").unlink()
    build(config, output_dir=project.root / "again", freeze=True)
    # The build's modules and what it returns at least: thousands of objects, and the collector on as before.
    assert gc.get_freeze_count() > 1000
    assert gc.isenabled()


def test_a_build_that_fails_freezes_too_and_leaves_the_collector_as_it_was(project, unfrozen):
    project.write("cards/broken.yaml", "topic: Broken\nentries: [\n")
    config = load_config(project.root)
    gc.unfreeze()
    gc.disable()
    try:
        with pytest.raises(Exception, match="broken.yaml"):
            build(config, freeze=True)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert gc.get_freeze_count() > 0


def _freezes(monkeypatch) -> list[bool]:
    asked: list[bool] = []
    real = builder.build.build

    def recorded(*args, **kwargs):
        asked.append(kwargs.get("freeze", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(builder.build, "build", recorded)
    return asked


def test_the_build_command_freezes_after_its_one_build(project, monkeypatch, unfrozen):
    asked = _freezes(monkeypatch)
    result = project.build("-j", "1")
    assert result.exit_code == 0, result.output
    assert asked == [True]


def test_builds_on_every_save_freeze_nothing(project, monkeypatch, unfrozen):
    import builder.watch

    asked = _freezes(monkeypatch)

    def changes(config, stop, started):
        started()
        yield [project.root / "cards" / "all-kinds.yaml"]

    monkeypatch.setattr(builder.watch, "changes", changes)
    result = project.build("--watch")
    assert result.exit_code == 0, result.output
    assert asked == [False, False]
