"""Topics named on the command line: by file name, without its number, or by title; and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TOPIC = "title: '{title}'\ntags: [{tag}]\nentries:\n  - {{kind: qa, id: {id}, question: Q {id}?, answer: A}}\n"


@pytest.fixture
def numbered(project):
    project.write("cards/01-deepseek.yaml", TOPIC.format(title="DeepSeek: What People Got Wrong", tag="ds", id="d1"))
    project.write("cards/02-robots.yaml", TOPIC.format(title="Robotics", tag="robots", id="r1"))
    return project


def test_number_prefix_may_be_left_out(numbered):
    result = numbered.build("--topic", "deepseek")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "  wrote output/01-deepseek.apkg"


def test_title_names_a_topic_whatever_its_case(numbered):
    result = numbered.build("--topic", "deepseek: what people got wrong", "-t", "ROBOTICS")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["  wrote output/01-deepseek.apkg", "  wrote output/02-robots.apkg"]


def test_listing_and_adding_by_short_name(numbered):
    listed = numbered.run("list", "-t", "robots")
    assert listed.exit_code == 0 and listed.output.splitlines()[0] == "02-robots: Robotics"
    added = numbered.run("add", "robots", "--kind", "qa", "--question", "Who?", "--answer", "Me")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("Added qa 'who' to cards/02-robots.yaml:")


def test_unknown_topic_suggests_the_closest(numbered):
    result = numbered.build("--topic", "deepsek")
    assert result.exit_code == 2
    assert result.output == (
        "unknown topic 'deepsek' (did you mean '01-deepseek'?); topics are: 01-deepseek, 02-robots, all-kinds\n"
    )
    assert not numbered.output.exists()


def test_a_short_name_shared_by_two_topics_is_ambiguous(numbered):
    numbered.write("cards/03-robots.yaml", TOPIC.format(title="More Robots", tag="robots", id="r2"))
    result = numbered.build("--topic", "robots")
    assert result.exit_code == 2
    assert result.output == "topic 'robots' is ambiguous: it could be 02-robots, 03-robots\n"


def _complete(project, words: str) -> list[str]:
    words = words.replace("decks ", f"decks -C {project.root} ", 1)
    env = {
        **os.environ,
        "_DECKS_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    out = subprocess.run(
        [sys.executable, "-m", "builder"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split(",", 1)[1] for line in out.splitlines()]


def test_shell_completion_of_topics_and_tags(numbered):
    assert _complete(numbered, "decks build --topic ") == [
        "01-deepseek",
        "02-robots",
        "all-kinds",
        "deepseek",
        "robots",
    ]
    assert _complete(numbered, "decks add 0") == ["01-deepseek", "02-robots"]
    assert _complete(numbered, "decks list --tag ro") == ["robots"]


def test_shell_completion_outside_a_project_offers_nothing(tmp_path):
    env = {**os.environ, "_DECKS_COMPLETE": "bash_complete", "COMP_WORDS": "decks build --topic ", "COMP_CWORD": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "builder"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")
