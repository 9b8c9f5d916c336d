"""The data directory is Capstan's alone: the directory 0700, the files in it 0600.

It holds the master key, the SQLite database (with its `-wal` and `-shm`), the bundled Redis's
append-only file, log and pid file, the initial admin password, and every project's mirror and
releases. Each start makes it private again, whatever an older version or a restore left. The
SQLite file is created (0600) before SQLite opens it, because SQLite gives the `-wal` and `-shm`
files it makes the database file's permissions.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from app.settings import Settings

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def prepare(settings: Settings) -> Path:
    """Make the data directory (and a SQLite database file) exist and private; return it."""
    data = settings.data_dir
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    (data / "projects").mkdir(mode=0o700, exist_ok=True)
    for entry in data.iterdir():
        _private(entry)
    if settings.dialect == "sqlite":
        database = Path(settings.database.removeprefix("sqlite://"))
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        for path in (database, *(Path(f"{database}{end}") for end in SQLITE_COMPANIONS)):
            _private(path)
    return data


def _private(path: Path) -> None:
    """Take group and other permissions off a file or directory (never following a link)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IMODE(mode) & 0o077:
        os.chmod(path, stat.S_IMODE(mode) & 0o700)
