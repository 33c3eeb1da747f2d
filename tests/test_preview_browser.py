"""The preview in a real browser: headless Chromium loads the site from disk.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them). Without them these
tests are skipped locally, and fail in CI (where CI is set), so a green CI always ran them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.media_files import png

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "output"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1400",
)

EXTRA_TOPIC = r"""
title: Pictures and Formulas
tags: [visual]
entries:
  - kind: qa
    id: qa-colour
    question: 'Which colour is this square, and what is \(x^2\) for x = 3?'
    answer: 'Orange, and 9 (it costs $5).'
    image: square.png
    tags: [colours]
  - kind: cloze
    id: cz-sum
    text: 'The sum \[ \sum_{i=1}^{n} i = \frac{n(n+1)}{2} \] is due to {{c1::Gauss}}.'
"""


def _tools() -> tuple[str | None, str | None, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if driver is None and Path("/usr/bin/chromedriver").exists():
        driver = "/usr/bin/chromedriver"
    missing = [name for name, found in (("chromium", chromium), ("chromedriver", driver)) if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    return chromium, driver, ", ".join(missing)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver, missing = _tools()
    if missing:
        if "CI" in os.environ:
            pytest.fail(f"CI is set but {missing} is missing: .ci/run installs chromium and chromium-driver")
        pytest.skip(f"needs {missing} (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver_ = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield driver_
    finally:
        driver_.quit()


@pytest.fixture
def site(project):
    project.write("cards/pictures.yaml", EXTRA_TOPIC)
    (project.root / "media").mkdir()
    (project.root / "media/square.png").write_bytes(png(120, 80, (242, 140, 40)))
    result = project.run("preview")
    assert result.exit_code == 0, result.output
    return project.output / "preview"


def _visible(driver, css: str) -> list:
    return [e for e in driver.find_elements("css selector", css) if e.is_displayed()]


def _visible_ids(driver) -> list[str]:
    return [e.get_attribute("data-id") for e in _visible(driver, "#entries .pv-hit")]


def test_index_lists_every_entry_and_filters(browser, site):
    browser.get((site / "index.html").as_uri())
    all_ids = ["c-term", "cl-cheap", "qa-year", "cz-people", "qa-colour", "cz-sum"]
    assert _visible_ids(browser) == all_ids
    assert browser.find_element("id", "count").text == "6 of 6 entries"
    topics = [e.text for e in _visible(browser, "#topics tbody tr td:first-child a")]
    assert topics == ["All Kinds", "Pictures and Formulas"]

    search = browser.find_element("id", "search")
    search.send_keys("cheaper")
    assert _visible_ids(browser) == ["cl-cheap"]
    assert browser.find_element("id", "count").text == "1 of 6 entries"
    assert [e.text for e in _visible(browser, "#topics tbody tr td:first-child a")] == ["All Kinds"]
    search.clear()
    search.send_keys("no such words anywhere")
    assert _visible_ids(browser) == []
    assert browser.find_element("id", "no-results").is_displayed()
    search.clear()
    search.send_keys(" ")  # an input event with no words shows everything again
    assert _visible_ids(browser) == all_ids

    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "tag")).select_by_value("visual")
    assert _visible_ids(browser) == ["qa-colour", "cz-sum"]
    Select(browser.find_element("id", "tag")).select_by_value("economics")
    assert _visible_ids(browser) == ["cl-cheap"]

    # Tag links on topic pages land on the index filtered by that tag.
    browser.get((site / "index.html").as_uri() + "#tag=colours")
    assert _visible_ids(browser) == ["qa-colour"]
    browser.save_screenshot(str(_screenshot("preview-index-screenshot.png")))


def test_topic_page_shows_blank_then_reveals_answer(browser, site):
    browser.get((site / "all-kinds.html").as_uri())
    entries = browser.find_elements("css selector", "article.pv-entry")
    assert [e.get_attribute("data-id") for e in entries] == ["c-term", "cl-cheap", "qa-year", "cz-people"]
    assert len(browser.find_elements("css selector", ".pv-card")) == 6

    first_cloze = browser.find_elements("css selector", "#entry-cz-people .pv-card")[0]
    question = first_cloze.find_element("css selector", ".pv-question")
    assert question.text.splitlines()[-1] == "He joined when it had about [...] people, in 2017."
    assert first_cloze.find_element("css selector", ".pv-question .cloze").text == "[...]"
    answer = first_cloze.find_element("css selector", ".pv-answer .card")
    assert not answer.is_displayed()
    first_cloze.find_element("css selector", ".pv-answer summary").click()
    assert answer.is_displayed()
    assert "He joined when it had about 35 people, in 2017." in answer.text
    assert "A small lab then." in answer.text

    # Every other answer is still hidden until "Show all answers".
    hidden = [e for e in browser.find_elements("css selector", ".pv-answer .card") if not e.is_displayed()]
    assert len(hidden) == 5
    browser.find_element("id", "reveal-all").click()
    assert all(e.is_displayed() for e in browser.find_elements("css selector", ".pv-answer .card"))


def test_images_and_math_render_offline(browser, site):
    browser.get((site / "pictures.html").as_uri())
    image = browser.find_element("css selector", "#entry-qa-colour .pv-question img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 120
    maths = browser.find_elements("css selector", "#entry-qa-colour .pv-question math")
    assert len(maths) == 1 and maths[0].size["width"] > 0
    block = browser.find_element("css selector", "#entry-cz-sum .pv-question math[display=block]")
    assert block.size["width"] > 0 and block.size["height"] > 0
    browser.find_element("id", "reveal-all").click()
    assert "it costs $5" in browser.find_element("css selector", "#entry-qa-colour .pv-answer").text
    browser.save_screenshot(str(_screenshot("preview-screenshot.png")))


def _screenshot(name: str) -> Path:
    # Kept by CI under output/ for a person to look at.
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / name


def test_served_page_reloads_after_each_save_and_shows_errors(browser, project):
    """`decks preview --serve`: the open page reloads on a good build and shows a failed one's errors."""
    import queue
    import threading

    from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    from builder.config import load_config
    from builder.serve import serve_preview

    ready: queue.Queue = queue.Queue()
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            serve_preview(load_config(project.root), port=0, report=lambda _: None, on_ready=ready.put, stop=stop)
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)
            ready.put(None)

    thread = threading.Thread(target=run)
    thread.start()
    # While the page reloads, a script or an element of the old page can fail to answer: asked again.
    wait = WebDriverWait(
        browser, 20, poll_frequency=0.1, ignored_exceptions=(JavascriptException, StaleElementReferenceException)
    )
    card = project.root / "cards/all-kinds.yaml"
    try:
        url = ready.get(timeout=30)
        assert url is not None, failures
        browser.get(url + "all-kinds.html")
        assert "In which year did he join?" in browser.page_source
        # A mark on this page's window: gone once the page has reloaded.
        browser.execute_script("window.decksTestMark = 1")

        project.write("cards/all-kinds.yaml", card.read_text().replace("In which year", "When"))
        wait.until(lambda b: b.execute_script("return window.decksTestMark") is None)
        # The mark is gone as soon as the new page starts; its text may come a moment later.
        wait.until(lambda b: "When did he join?" in b.find_element("tag name", "body").text)

        # A mistake: the errors show over the last good cards, as text (never as markup), without a reload.
        browser.execute_script("window.decksTestMark = 2")
        project.write("cards/broken.yaml", "title: Broken\n<b>bold</b>: x\nentries: []\n")
        overlay = wait.until(lambda b: _visible(b, "#decks-errors"))[0]
        assert "cards/broken.yaml:2:1: unknown key '<b>bold</b>' in the topic" in overlay.text
        assert "cards/broken.yaml:3:10: 'entries' is empty; a topic needs at least one entry" in overlay.text
        assert browser.find_elements("css selector", "#decks-errors b") == []
        assert "When did he join?" in browser.find_element("tag name", "body").text
        assert browser.execute_script("return window.decksTestMark") == 2
        browser.save_screenshot(str(_screenshot("preview-live-errors-screenshot.png")))

        # Fixed: the page reloads and the errors are gone.
        (project.root / "cards/broken.yaml").unlink()
        wait.until(lambda b: b.execute_script("return window.decksTestMark") is None)
        wait.until(lambda b: not _visible(b, "#decks-errors"))
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and not failures
