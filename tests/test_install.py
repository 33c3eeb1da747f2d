"""A non-editable install carries its templates and works from any folder."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
    )
    (path,) = out.glob("decks-*.whl")
    return path


def test_wheel_ships_the_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    templates = sorted(n.removeprefix("builder/templates/") for n in names if n.startswith("builder/templates/"))
    expected = sorted(
        p.relative_to(REPO / "templates").as_posix() for p in (REPO / "templates").rglob("*") if p.is_file()
    )
    assert templates == expected


def test_wheel_ships_the_preview_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assets = sorted(n.removeprefix("builder/preview_assets/") for n in names if n.startswith("builder/preview_assets/"))
    expected = sorted(p.name for p in (REPO / "builder/preview_assets").iterdir() if p.is_file())
    assert assets == expected and "preview.js" in assets


def test_installed_package_builds_a_project_without_templates(wheel, project, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    code = "import builder.templatedirs as t; print(t.packaged_templates())"
    where = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.strip() == str(target / "builder" / "templates")
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "-C", str(project.root), "build"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (project.output / "all-kinds.apkg").is_file()
    assert not (project.root / "templates").exists()


def test_installed_package_writes_a_preview(wheel, project, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check"]
        + ["--target", str(target), str(wheel)],
        check=True,
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    code = "import builder.preview as p; print(p.ASSETS)"
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.strip() == str(target / "builder" / "preview_assets")
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "-C", str(project.root), "preview"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert '<script src="preview.js"></script>' in (project.output / "preview/index.html").read_text()
