"""A non-editable install works: the wheel carries the migrations and data files, and the
installed package finds its migrations (the Docker image installs the same way)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "app", "migrations", "frontend")


def _build_wheel(tmp: Path) -> Path:
    """`pip wheel` of a copy of the source tree, offline (no index, no build isolation)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--disable-pip-version-check", "-w", str(tmp / "dist"), str(src)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("capstan-*.whl")
    return wheel


def _source_files() -> set[str]:
    """What the wheel must hold: every file of app/, migrations/ and frontend/ (as
    app/migrations/ and app/frontend/)."""
    files = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    files |= {
        "app/" + str(path.relative_to(ROOT))
        for folder in ("migrations", "frontend")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    return files


def test_the_wheel_installs_the_migrations_and_finds_them(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.startswith("capstan-")}
        archive.extractall(tmp_path / "site")
    for dialect in ("sqlite", "postgres"):
        assert f"app/migrations/{dialect}/models/0_init.py" in names
    assert "app/accounts/common-passwords.txt" in names
    assert names == _source_files()

    probe = (
        "import asyncio, json, app, app.db; from app.settings import Settings;"
        "s = Settings(database_url='sqlite://' + 'm.sqlite3');"
        "print(json.dumps([app.__file__, str(app.db.MIGRATIONS), asyncio.run(app.db.migrate(s))]))"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "site")}
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    package, migrations, applied = json.loads(ran.stdout)
    assert Path(package).is_relative_to(tmp_path / "site")
    assert Path(migrations) == tmp_path / "site" / "app" / "migrations"
    assert applied == sorted(p.name for p in (ROOT / "migrations/sqlite/models").glob("*.py"))
