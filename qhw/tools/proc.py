"""Every child process qhw starts (g++, Verilator, Yosys, nextpnr, compiled simulators) goes
through :func:`run`, so that an interrupt or a timeout stops all of them, not just the one the
main thread waits for.

Each child runs in its own session (hence its own process group: make's g++, cc1plus and
Verilator's sub-makes are in it too) and is tracked while it runs. A timeout, an exception or a
KeyboardInterrupt in the caller stops the whole group: SIGTERM, then SIGKILL after
:data:`GRACE_S`. The CLI installs :func:`handle_signals`: SIGINT and SIGTERM then stop every
tracked group at once (children waited for by worker threads included), and raise
:class:`Interrupted` in the main thread so the usual cleanup (temporary folders, process pools)
runs before qhw exits with 128 + the signal number.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

#: seconds a stopped child gets between SIGTERM and SIGKILL
GRACE_S = 2.0
_HANDLED = (signal.SIGINT, signal.SIGTERM)

_lock = threading.Lock()
_live: dict[int, subprocess.Popen] = {}  # pid (= process group id) -> the running child
_stopping: int = 0  # the signal that asked qhw to stop (no new child starts after it)
_defer_depth = 0  # > 0: the main thread is in a section a signal must not cut (a rename, a cleanup)
_pending: int = 0  # a signal that arrived inside such a section, raised when it ends


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which (the CLI exits with 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run(args: Sequence[str | os.PathLike], *, cwd: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None, input: str | bytes | None = None,
        capture_output: bool = False, text: bool = False, timeout: float | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    """``subprocess.run`` for the options qhw uses, with the child in its own process group,
    stopped (with everything it started) on a timeout, an exception or an interrupt. stdin is
    ``/dev/null`` unless ``input`` is given."""
    pipe = subprocess.PIPE if capture_output else None
    child: subprocess.Popen | None = None
    try:
        with deferred_signals():  # a signal between fork and tracking would leave it untracked
            if _stopping:
                raise Interrupted(_stopping)
            child = subprocess.Popen(args, cwd=cwd, env=env, text=text, stdout=pipe, stderr=pipe,
                                     stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                                     start_new_session=True)
            with _lock:
                _live[child.pid] = child
        try:
            out, err = child.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            out, err = _leftover(child)
            raise subprocess.TimeoutExpired(child.args, timeout, output=out, stderr=err) from None
        if _stopping:  # stopped by a signal while a worker thread waited for it
            raise Interrupted(_stopping)
    except BaseException:
        if child is not None:
            _stop(child)
        raise
    finally:
        if child is not None:
            with _lock:
                _live.pop(child.pid, None)
    result = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    if check:
        result.check_returncode()
    return result


def _leftover(child: subprocess.Popen):
    """What a stopped child printed (its pipes close once its group is gone)."""
    try:
        return child.communicate(timeout=GRACE_S)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        return None, None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _stop(child: subprocess.Popen) -> None:
    """SIGTERM to the child's group, SIGKILL after GRACE_S (also to stragglers of a leader
    that exited), then reap the leader."""
    with deferred_signals():
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(child.pid, signal.SIGKILL)
        try:
            child.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            pass  # unkillable (uninterruptible sleep): nothing more to do


def stop_all(sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to every running child's process group, and to every other process below
    this one that is not a multiprocessing worker (children a library started without
    :func:`run`, e.g. cocotb's make). Callable from a signal handler."""
    for pgid in tuple(_live):  # no lock: the handler may have interrupted its holder
        _signal_group(pgid, sig)
    for pid in _untracked_descendants():
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _untracked_descendants() -> list[int]:
    """Processes below this one (Linux /proc), minus multiprocessing's workers and helpers,
    which their pools stop and which stop their own children."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    parent: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            parent[pid] = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    mp = sys.modules.get("multiprocessing")
    spared = {p.pid for p in mp.active_children()} if mp is not None else set()
    me, found, frontier = os.getpid(), [], {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier and pid not in spared
                    and pid != me}
        found.extend(frontier)
    return [pid for pid in found if not _is_multiprocessing_helper(pid)]


def _is_multiprocessing_helper(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"multiprocessing" in fh.read()
    except OSError:
        return False


@contextmanager
def deferred_signals() -> Iterator[None]:
    """A section of the main thread a SIGINT/SIGTERM must not cut (moving a folder into place,
    removing a temporary one): children are still stopped at once, the :class:`Interrupted`
    is raised when the section ends. A no-op in other threads and without :func:`handle_signals`."""
    global _defer_depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _defer_depth += 1
    try:
        yield
    finally:
        _defer_depth -= 1
        if _defer_depth == 0 and _pending:
            sig, _pending = _pending, 0
            raise Interrupted(sig)


def _on_signal(signum: int, frame) -> None:
    global _stopping, _pending
    first = not _stopping
    _stopping = _stopping or signum
    stop_all(signal.SIGTERM if first else signal.SIGKILL)
    if not first:
        return  # the first one is already unwinding; later ones only hurry the children
    if _defer_depth:
        _pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """While the block runs (in the main thread), SIGINT and SIGTERM stop every child and raise
    :class:`Interrupted`; afterwards the previous handlers are back."""
    global _stopping, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in _HANDLED}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _stopping = _pending = 0


def worker_signals() -> None:
    """For a pool worker process: SIGINT is its parent's business (a Ctrl-C reaches the whole
    foreground group); SIGTERM (sent by the parent's pool on an interrupt) stops the worker's
    own children and ends it at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum, frame):
        stop_all(signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


def _after_fork_in_child() -> None:
    # a forked process (a pool worker) starts with no children of its own to track or stop
    global _stopping, _pending, _defer_depth, _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _live.clear()
    _stopping = _pending = _defer_depth = 0


os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["run", "Interrupted", "handle_signals", "deferred_signals", "stop_all",
           "worker_signals", "GRACE_S"]
