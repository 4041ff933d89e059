"""How a tool's child process ended, in words a failure message can carry.

A Yosys or Verilator run that dies without printing anything (killed by the kernel under memory
pressure, a crash of the WebAssembly runtime) leaves only its return code. These helpers turn it
into "killed by SIGKILL" and add the child's wall time and peak resident memory, so a red test
says why it is red.
"""
from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

try:  # POSIX only; elsewhere the peak memory is simply not reported
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None


def ended(returncode: int) -> str:
    """``"exit code 1"``, or ``"killed by SIGKILL (signal 9)"`` for a negative return code."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"killed by signal {-returncode}"
    return f"killed by {name} (signal {-returncode})"


def _children() -> tuple[float, float | None]:
    """CPU seconds (user + system) and largest resident memory (MiB) of the reaped children."""
    if resource is None:
        return 0.0, None
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = ru.ru_maxrss / 2**20 if sys.platform == "darwin" else ru.ru_maxrss / 2**10  # B / KiB
    return ru.ru_utime + ru.ru_stime, rss


@dataclass
class ChildUsage:
    """Wall and CPU seconds of a child run and its peak resident memory in MiB.

    From ``getrusage(RUSAGE_CHILDREN)``: CPU time is the difference over the run; the peak is
    ``ru_maxrss``, the largest of all children this process has reaped (their own children
    included), so when the run's child is not larger than an earlier one it is only an upper
    bound (``peak_exact`` False). Children of other threads running at the same time are
    counted too. CPU seconds far below wall seconds mean the machine was busy.
    """

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float | None = None
    peak_exact: bool = False
    _t0: float = field(default=0.0, repr=False, compare=False)
    _cpu0: float = field(default=0.0, repr=False, compare=False)
    _rss0: float | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(cls) -> "ChildUsage":
        """Begin measuring (call before starting the child)."""
        cpu, rss = _children()
        return cls(_t0=time.monotonic(), _cpu0=cpu, _rss0=rss)

    def stop(self) -> "ChildUsage":
        """Finish measuring (call after the child was reaped); returns ``self``."""
        self.seconds = time.monotonic() - self._t0
        cpu, rss = _children()
        self.cpu_seconds = cpu - self._cpu0
        if rss is not None:
            self.peak_mb = rss
            self.peak_exact = self._rss0 is None or rss > self._rss0
        return self

    @classmethod
    def total(cls, usages: "list[ChildUsage | None]") -> "ChildUsage | None":
        """Several runs as one: summed seconds, the largest peak."""
        known = [u for u in usages if u is not None]
        if not known:
            return None
        peaks = [u for u in known if u.peak_mb is not None]
        top = max(peaks, key=lambda u: u.peak_mb) if peaks else None
        return cls(sum(u.seconds for u in known), sum(u.cpu_seconds for u in known),
                   top.peak_mb if top else None, top.peak_exact if top else False)

    def text(self) -> str:
        """E.g. ``"after 12.3 s (11.9 s CPU), peak memory 3912 MiB"``."""
        out = f"after {self.seconds:.1f} s ({self.cpu_seconds:.1f} s CPU)"
        if self.peak_mb is not None:
            out += f", peak memory {'' if self.peak_exact else '<= '}{self.peak_mb:.0f} MiB"
        return out


@contextmanager
def measure_child() -> Iterator[ChildUsage]:
    """Measure the child process(es) run and reaped inside the ``with`` block."""
    usage = ChildUsage.start()
    try:
        yield usage
    finally:
        usage.stop()


def failure_text(tool: str, returncode: int, usage: ChildUsage | None, output: str,
                 tail: int = 3000) -> str:
    """One header line (``tool``, how it ended, time, memory) and the output's last ``tail``
    characters, or a note that it printed nothing. E.g. ``"yosys: killed by SIGKILL (signal 9)
    after 61.0 s (58.2 s CPU), peak memory 3912 MiB; it printed nothing"``."""
    head = f"{tool}: {ended(returncode)}"
    if usage is not None:
        head += f" {usage.text()}"
    body = output.strip()
    if not body:
        return f"{head}; it printed nothing"
    return f"{head}; last output:\n{body[-tail:]}"
