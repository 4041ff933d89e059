"""The Pareto front of a sweep (error against LUTs; with a clock-period axis, error, LUTs and
latency in ns) and its plot."""
from __future__ import annotations

from pathlib import Path


_LABELS = {"lut": "LUTs (analytic estimate)", "ff": "FFs (analytic estimate)",
           "yosys_lut": "LUTs (Yosys)", "yosys_ff": "FFs (Yosys)"}


def pareto_front(records: list[dict], cost: str = "lut", error: str = "mean_abs_error",
                 latency: str | None = None) -> list[dict]:
    """Records no other record beats on both ``cost`` and ``error`` (successful points only),
    cheapest first. With ``latency`` (a column, e.g. ``latency_ns``): on all three — no other
    record as good on every one and better on one."""
    ok = [r for r in records if r.get("status") == "ok" and r.get(cost) is not None]
    ok.sort(key=lambda r: (r[cost], r[error], str(r.get("id"))))
    if latency is not None:
        ok = [r for r in ok if r.get(latency) is not None]
        keys = [(r[cost], r[error], r[latency]) for r in ok]
        return [r for r, k in zip(ok, keys)
                if not any(o != k and all(a <= b for a, b in zip(o, k)) for o in keys)]
    front, best = [], float("inf")
    for r in ok:
        if r[error] < best:
            front.append(r)
            best = r[error]
    return front


def plot(records: list[dict], out_dir: str | Path, cost: str = "lut",
         error: str = "mean_abs_error", title: str = "", latency: str | None = None) -> list[Path]:
    """``pareto.png`` and ``pareto.svg`` in ``out_dir``: every point and the front (byte-stable
    for the same records: no dates, fixed SVG ids); with ``latency`` the three-way front, its
    points coloured by latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = sorted((r for r in records if r.get("status") == "ok"), key=lambda r: str(r["id"]))
    front = pareto_front(records, cost, error, latency)
    with plt.rc_context({"svg.hashsalt": "qhw", "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
        ax.scatter([r[cost] for r in ok], [r[error] for r in ok], s=14, color="0.65", label="points")
        if latency is None:
            ax.plot([r[cost] for r in front], [r[error] for r in front], "o-", color="C3", ms=5,
                    label="Pareto front")
        elif front:
            sc = ax.scatter([r[cost] for r in front], [r[error] for r in front], s=30,
                            c=[r[latency] for r in front], cmap="viridis",
                            label="Pareto front (error, area, latency)")
            fig.colorbar(sc, ax=ax, label=latency.replace("_", " "))
        ax.set_xlabel(_LABELS.get(cost, cost))
        ax.set_ylabel(error.replace("_", " ") + " vs float")
        ax.set_yscale("log" if all(r[error] > 0 for r in ok) and ok else "linear")
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_title(title or f"{len(ok)} points, {len(front)} on the front")
        fig.tight_layout()
        out = Path(out_dir)
        paths = [out / "pareto.png", out / "pareto.svg"]
        fig.savefig(paths[0], metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return paths


__all__ = ["pareto_front", "plot"]
