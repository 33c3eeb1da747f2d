"""After the command's one build: what is alive as it ends is frozen, never walked again, since turned back on the
cyclic garbage collector would walk every object the build made; and its build state is left for the process's
end rather than freed note by note. `--watch` builds again and again in one process, and does neither."""

from __future__ import annotations

import gc

import pytest

import builder.build
from builder.build import build
from builder.config import load_config


@pytest.fixture
def unfrozen():
    """Whatever a test freezes goes back to the collector after it, and what a build left is let go."""
    builder.build._LEFT.clear()
    yield
    gc.unfreeze()
    builder.build._LEFT.clear()


def test_a_build_freezes_what_is_alive_only_when_asked(project, unfrozen):
    config = load_config(project.root)
    gc.unfreeze()
    build(config)
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert builder.build._LEFT == []
    (project.root / "decks.lock").unlink()
    build(config, output_dir=project.root / "again", freeze=True)
    # The build's modules and what it returns at least: thousands of objects, and the collector on as before.
    assert gc.get_freeze_count() > 1000
    assert gc.isenabled()
    # The state it saved, its notes' stamps with it.
    (left,) = builder.build._LEFT
    assert len(left.guids()) == 4
    assert (project.root / "decks.lock").read_bytes() == left.lock_bytes(config.project)


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
    assert len(builder.build._LEFT) == 1
    (project.root / "decks.lock").unlink()
    assert project.build("-j", "1", "-o", str(project.root / "again")).exit_code == 0
    # The command run again in one process holds the last state only.
    assert len(builder.build._LEFT) == 1


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
    assert builder.build._LEFT == []
