"""Atomic file writes, and where hivejax caches what it generates.

A reader, or a crash, sees the old file or the new one, never a mix.

Every file hivejax writes for a user to keep (programs, ``best.json``, ``summary.json``,
cached data sets) goes through ``write_atomic``: the bytes go to a temporary file in the
same directory, are flushed to disk, and the temporary file is renamed over the target.
"""

import json
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import BinaryIO


def write_atomic(path: str | os.PathLike, write: bytes | Callable[[BinaryIO], None]) -> None:
    """Replace ``path`` atomically with ``write`` (bytes, or a function writing to a file).

    An existing file keeps its permission bits; a new one gets ``0o644``. The directory
    must exist.

    Example:
      >>> import pathlib, tempfile
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
      >>> write_atomic(path, b"hello")
      >>> path.read_bytes(), oct(path.stat().st_mode & 0o777)
      (b'hello', '0o644')
    """
    path = pathlib.Path(path)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(write, bytes):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON with ``write_atomic``."""
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode("utf-8"))


def _mode_for(path: pathlib.Path) -> int:
    """Keep an existing file's permissions; a new file gets ``0o644``."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o644


def cache_dir() -> pathlib.Path:
    """Where generated data sets and compilations are cached: ``$HIVEJAX_CACHE``, default
    ``~/.cache/hivejax``."""
    return pathlib.Path(os.environ.get("HIVEJAX_CACHE", "~/.cache/hivejax")).expanduser()
