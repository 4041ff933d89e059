"""``--max-error``: a cheap per-layer configuration within an error budget.

Greedy: start every layer at the widest width given; repeatedly try narrowing one layer's
weights or activations by one bit, most analytic LUTs saved first, and keep the first narrowing
whose golden-model error stays within the budget; stop when no narrowing fits. Every accepted
step is a real golden-model run on the validation data, so the result is verified, not predicted.
"""
from __future__ import annotations

from qhw.errors import ConfigError
from qhw.sweep.point import Problem, evaluate


def search(problem: Problem, max_error: float, *, widths: dict[str, list[int]],
           metric: str = "mean_abs_error", layers: list[str] | None = None) -> dict:
    """Returns {"point", "record", "steps", "evaluations"}. ``widths``: axis -> allowed widths
    (e.g. {"weights": [3..10], "activations": [6..16]}); layers: default every layer with
    weights or a result the sweep chooses."""
    if not widths:
        raise ConfigError("search needs at least one width axis (weights or activations)")
    g = problem.graph
    layers = layers or [n.name for n in g.nodes() if n.op not in ("input", "output", "flatten", "reshape")]
    point = {f"{n}.{axis}": max(ws) for axis, ws in widths.items() for n in layers
             if axis != "weights" or "weight" in g.node(n).params}
    rec = evaluate(problem, point)
    evaluations = 1
    if rec["status"] != "ok" or rec[metric] > max_error:
        raise ConfigError(f"even the widest configuration misses the budget: {metric} = "
                          f"{rec.get(metric)} > {max_error} ({rec.get('error', '')})")
    steps = []
    while True:
        candidates = []
        for key, w in point.items():
            allowed = sorted(widths[key.rsplit(".", 1)[1]])
            lower = [x for x in allowed if x < w]
            if lower:
                trial = dict(point, **{key: lower[-1]})
                candidates.append((trial, key))
        # most LUTs saved first (analytic, milliseconds), then confirm with the golden model
        scored = []
        for trial, key in candidates:
            r = evaluate(problem, trial)
            evaluations += 1
            if r["status"] == "ok":
                scored.append((rec["lut"] - r["lut"], r[metric], trial, key, r))
        scored.sort(key=lambda t: (-t[0], t[1]))
        for saved, err, trial, key, r in scored:
            if err <= max_error and saved >= 0:
                point, rec = trial, r
                steps.append({"narrowed": key, "to": trial[key], "lut": r["lut"], metric: err})
                break
        else:
            break
    return {"point": point, "record": rec, "steps": steps, "evaluations": evaluations}


__all__ = ["search"]
