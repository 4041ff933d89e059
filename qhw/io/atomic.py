"""Writing outputs all at once, and only where qhw may write.

A folder is built in a temporary sibling and renamed into place. It replaces an existing folder
only when that folder is empty or was written by the same qhw command (it holds :data:`MARKER`);
any other file or folder is an error naming it and is never touched. The current folder, its
parents and a folder holding one of the command's inputs (the model, its config, data) are
refused. A single output file replaces an existing regular file (the user named it, as for
``cp`` or ``gcc -o``), never a folder or an input. Temporary files and folders are removed on
every failure path (MemoryError and KeyboardInterrupt included). Everything written gets the
user's umask, not the private modes of temporary files.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from qhw.errors import QhwError
from qhw.tools.proc import deferred_signals

#: the file in every folder qhw writes that says so (and which command wrote it)
MARKER = ".qhw-output.json"
_MARKER_MAX_BYTES = 4096
_umask_lock = threading.Lock()


class OutputError(QhwError):
    """An output path qhw must not or cannot write; the message names it."""


def umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # elsewhere: set and restore (a brief window other threads could see)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _shown(path) -> str:
    return repr(str(path))


def _lstat(path: Path, shown: str, what: str) -> os.stat_result | None:
    """lstat, or None when nothing is there; other failures as one OutputError line."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        parent = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise OutputError(f"cannot write {what} {shown}: {str(parent)!r} is a file, not a "
                          f"folder") from None
    except OSError as exc:
        raise OutputError(f"cannot write {what} {shown}: {exc.strerror or exc}") from None


def _read_marker(folder: Path) -> dict | None:
    """The marker's record, or None if ``folder`` has no valid one."""
    path = folder / MARKER
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MARKER_MAX_BYTES:
            return None
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("tool") == "qhw" else None


def written_by(folder: str | os.PathLike, command: str) -> bool:
    """Whether ``folder`` holds the marker of ``qhw COMMAND``."""
    return (_read_marker(Path(folder)) or {}).get("command") == command


def marker_record(command: str) -> dict:
    from qhw._version import __version__

    return {"tool": "qhw", "command": command, "version": __version__}


def write_marker(folder: Path, command: str) -> None:
    (folder / MARKER).write_text(json.dumps(marker_record(command), indent=1, sort_keys=True) + "\n")


def check_output_dir(path: str | os.PathLike, command: str, inputs: Iterable = (),
                     legacy: Iterable[str] = ()) -> tuple[Path, bool]:
    """(the resolved folder, whether it exists) if ``qhw COMMAND`` may write ``path``, else an
    OutputError naming it.

    Refused: the current folder or one of its parents; a folder holding one of ``inputs``; a
    symbolic link; anything that is not a folder; a non-empty folder without qhw's marker (unless
    it holds only the ``legacy`` names: what an older qhw wrote there), or whose marker names
    another command.
    """
    shown = _shown(path)
    given = Path(path)
    st = _lstat(given, shown, "the output folder")
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise OutputError(f"output folder {shown} is a symbolic link; give the folder itself")
    try:
        out = given.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as exc:
        raise OutputError(f"cannot resolve the output folder {shown}: {exc}") from None
    if out == cwd or out in cwd.parents:
        where = "the current folder" if out == cwd else "a parent of the current folder"
        raise OutputError(f"output folder {shown} is {where}, which qhw never writes its output "
                          f"into: give a new folder, e.g. -o build/{command}")
    for item in inputs:
        if item is None:
            continue
        try:
            inp = Path(item).resolve()
        except (OSError, RuntimeError):
            continue
        if inp == out or out in inp.parents:
            raise OutputError(f"output folder {shown} holds the input {str(item)!r}, which qhw "
                              f"must not overwrite: give a folder outside the model's")
    if st is None:
        return out, False
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output folder {shown} exists and is not a folder; give a new folder "
                          f"name (qhw will not replace it)")
    marker = _read_marker(out)
    if marker is not None:
        if marker.get("command") != command:
            raise OutputError(f"output folder {shown} holds the output of 'qhw "
                              f"{marker.get('command')}', not of 'qhw {command}'; give another "
                              f"folder (qhw will not replace it)")
        return out, True
    try:
        names = set(os.listdir(out))
    except OSError as exc:
        raise OutputError(f"cannot read the output folder {shown}: {exc.strerror or exc}") from None
    foreign = sorted(names - set(legacy))
    if foreign:
        raise OutputError(f"output folder {shown} exists and was not written by qhw (it holds "
                          f"{foreign[0]!r} and no {MARKER}); qhw will not replace it: give a new "
                          f"or empty folder")
    return out, True


def _mkdtemp(parent: Path, name: str, suffix: str) -> Path:
    """A temporary folder beside ``parent/name`` with the umask's mode (mkdtemp makes it 0700)."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{_short(name)}.", suffix=suffix))
    os.chmod(tmp, 0o777 & ~umask())
    return tmp


def _short(name: str) -> str:
    """At most 64 bytes of ``name``: a temporary sibling's name must fit NAME_MAX too."""
    return os.fsencode(name)[:64].decode(errors="ignore")


def _remove(path: Path) -> None:
    with deferred_signals():
        shutil.rmtree(path, ignore_errors=True)


def _os_error(exc: OSError, shown: str, what: str) -> OutputError:
    if exc.errno == errno.ENOTDIR:
        return OutputError(f"cannot write {what} {shown}: a part of its path is a file, not a folder")
    return OutputError(f"cannot write {what} {shown}: {exc.strerror or exc}")


@contextmanager
def atomic_dir(path: str | os.PathLike, command: str = "compile",
               inputs: Iterable = ()) -> Iterator[Path]:
    """A temporary folder beside ``path`` (holding the marker of ``qhw COMMAND``) that replaces
    ``path`` as a whole on success; see :func:`check_output_dir` for what may be replaced."""
    shown = _shown(path)
    inputs = list(inputs)
    out, _ = check_output_dir(path, command, inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = _mkdtemp(out.parent, out.name, ".tmp")
    except OSError as exc:
        raise _os_error(exc, shown, "the output folder") from None
    try:
        try:
            write_marker(tmp, command)
        except OSError as exc:
            raise _os_error(exc, shown, "the output folder") from None
        yield tmp
        with deferred_signals():
            _, exists = check_output_dir(path, command, inputs)  # again: it may have appeared
            try:
                _replace_dir(tmp, out, exists)
            except OSError as exc:
                raise _os_error(exc, shown, "the output folder") from None
    except BaseException:
        _remove(tmp)
        raise


def _replace_dir(tmp: Path, out: Path, exists: bool) -> None:
    if not exists:
        os.rename(tmp, out)  # fails if a folder appeared meanwhile: never merged into
        return
    old = _mkdtemp(out.parent, out.name, ".old")
    try:
        os.rename(out, old / "x")
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old / "x", out)  # put the previous output back
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def output_dir(path: str | os.PathLike, command: str, inputs: Iterable = (),
               legacy: Iterable[str] = ()) -> Path:
    """The folder ``path`` for a command that adds to its output folder over several runs (qhw
    sweep): created with the marker (atomically) if new, the marker added if it was empty or
    holds only ``legacy`` names, returned as is if it is this command's; anything else refused
    as in :func:`check_output_dir`."""
    shown = _shown(path)
    out, exists = check_output_dir(path, command, inputs, legacy)
    try:
        if exists:
            if _read_marker(out) is None:
                write_marker(out, command)
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = _mkdtemp(out.parent, out.name, ".tmp")
    except OSError as exc:
        raise _os_error(exc, shown, "the output folder") from None
    try:
        write_marker(tmp, command)
        with deferred_signals():
            os.rename(tmp, out)
    except OSError as exc:
        _remove(tmp)
        if (_read_marker(out) or {}).get("command") == command:
            return out  # another run created it meanwhile
        raise _os_error(exc, shown, "the output folder") from None
    except BaseException:
        _remove(tmp)
        raise
    return out


def check_output_file(path: str | os.PathLike, inputs: Iterable = ()) -> Path:
    """The resolved path of an output file the user named: an existing regular file (or the
    one a symbolic link points to) is replaced; a folder, a device or one of ``inputs`` is
    refused."""
    shown = _shown(path)
    try:
        target = Path(path).resolve()
    except (OSError, RuntimeError) as exc:
        raise OutputError(f"cannot resolve the output file {shown}: {exc}") from None
    st = _lstat(target, shown, "the output file")
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise OutputError(f"output file {shown} is {kind}; qhw will not replace it")
    for item in inputs:
        if item is None:
            continue
        try:
            same = Path(item).resolve() == target
        except (OSError, RuntimeError):
            same = False
        if same:
            raise OutputError(f"output file {shown} is also an input; give another name")
    return target


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", inputs: Iterable = ()):
    """Open a temporary file beside ``path``; on success it replaces ``path`` (an existing
    regular file keeps its permission bits, a new one gets the umask's), on error it goes."""
    shown = _shown(path)
    target = check_output_file(path, inputs)
    try:
        old = os.stat(target).st_mode & 0o7777 if target.exists() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{_short(target.name)}.", suffix=".tmp")
    except OSError as exc:
        raise _os_error(exc, shown, "the output file") from None
    try:
        os.fchmod(fd, old if old is not None else 0o666 & ~umask())
        with os.fdopen(fd, mode) as fh:
            yield fh
        with deferred_signals():
            os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error(exc, shown, "the output file") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
