"""Writing outputs safely: checked writable before any work starts, then written whole or not at
all (a temporary file in the same folder, renamed over the target: a killed process or a full
disk never leaves a truncated file under the real name)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mlsteer.errors import MlsteerError


class CorruptFileError(MlsteerError):
    """A file mlsteer wrote earlier that no longer reads back as written (truncated, damaged)."""


class UnwritableOutputError(MlsteerError):
    """An output path that cannot be written (read-only, a file where a folder is needed...)."""


def corrupt(
    path: str | os.PathLike, detail: str, fix: str = "relearn or re-download it"
) -> CorruptFileError:
    """The error for a damaged file: ``corrupt file: PATH (detail); fix``."""
    return CorruptFileError(f"corrupt file: {path} ({detail}); {fix}")


def check_writable(path: str | os.PathLike, folder: bool = False) -> Path:
    """Raise unless ``path`` (a file, or with ``folder`` a folder) can be written; creates the
    missing folders on the way and proves the last one writable by creating a file in it, since
    permission bits lie (root ignores them; a read-only mount or a full quota does not)."""
    path = Path(path)
    where = path if folder else path.parent
    if not folder and path.is_dir():
        raise UnwritableOutputError(
            f"output {path} is a folder; name a file inside it (e.g. {path / 'out'})"
        )
    blocker = next((p for p in (where, *where.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UnwritableOutputError(
            f"cannot write {path}: {blocker} is a file, not a folder; choose another output path"
        )
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".mlsteer-write-check-"):
            pass
    except OSError as error:
        raise UnwritableOutputError(
            f"cannot write to {where} ({error.strerror or error}); choose another output folder or make it writable"
        ) from None
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; synced and renamed over ``path`` when the
    block ends without error, deleted otherwise. An I/O error (a full disk, a read-only folder)
    raises :class:`UnwritableOutputError` and leaves ``path`` as it was."""
    path = Path(path)
    if path.is_dir():
        raise UnwritableOutputError(
            f"output {path} is a folder; name a file inside it (e.g. {path / 'out'})"
        )
    tmp = path.with_name(
        f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    )  # one per writer
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(
            os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        )  # mode as a plain write: umask applies
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())  # on disk before the rename, so a crash leaves old or new
        os.replace(tmp, path)
    except OSError as error:
        raise UnwritableOutputError(
            f"could not write {path} ({error.strerror or error}); it was left as it was: "
            "free some space, make the folder writable or choose another output"
        ) from None
    finally:
        with suppress(OSError):  # renamed already, or never made (its folder could not be)
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return Path(path)
