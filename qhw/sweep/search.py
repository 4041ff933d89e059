"""``--max-error``: a cheap per-layer configuration within an error budget.

Greedy: start every layer at the widest width allowed. Each round, every one-bit narrowing of one
layer's weights or activations is priced by the analytic estimator (milliseconds) and tried in
order of LUTs saved, most first; the first whose golden-model error on the validation data stays
within the budget is kept. Stop when no narrowing fits. Every accepted step is a real golden-model
run, so the result is verified, not predicted.
"""
from __future__ import annotations

import dataclasses

from qhw.errors import ConfigError
from qhw.ops import is_output
from qhw.sweep.point import Problem, evaluate, lut_cost, one_blas_thread
from qhw.sweep.space import acts_on, width_value

def search(problem: Problem, max_error: float, *, widths: dict[str, list[int]],
           metric: str = "mean_abs_error", layers: list[str] | None = None) -> dict:
    """Returns {"point", "record", "steps", "evaluations"} (evaluations: golden-model runs).

    ``widths``: axis -> allowed total widths, e.g. {"weights": [4..10], "activations": [6..16]};
    ``layers``: default every layer whose weights or result a sweep chooses. With
    ``problem.synth`` only the final point is synthesized."""
    with one_blas_thread():
        return _search(problem, max_error, widths=widths, metric=metric, layers=layers)


def _search(problem: Problem, max_error: float, *, widths: dict[str, list[int]],
            metric: str, layers: list[str] | None) -> dict:
    if not widths:
        raise ConfigError("search needs at least one width axis (weights or activations)")
    allowed = {}
    for axis, ws in widths.items():
        if axis not in ("weights", "activations", "accum"):
            raise ConfigError(f"search axis {axis!r} is not one of weights, activations, accum")
        vals = [width_value(w, f"search {axis} width") for w in ws]
        if not vals or any(not isinstance(v, tuple) or v[1] is not None for v in vals):
            raise ConfigError(f"search {axis} widths must be plain bit-widths, got {ws!r}")
        allowed[axis] = sorted({v[0] for v in vals})
    if not max_error >= 0:
        raise ConfigError(f"--max-error must be >= 0, got {max_error}")
    g = problem.graph
    missing = [n for n in layers or [] if n not in g]
    if missing:
        raise ConfigError(f"search layers {missing} are not in {g.name!r}; layers: "
                          + ", ".join(n.name for n in g.nodes()))
    layers = layers or [n.name for n in g.nodes() if not is_output(n.op)]  # an output follows its producer
    point = {f"{n}.{axis}": ws[-1] for axis, ws in allowed.items() for n in layers
             if acts_on(g.node(n), axis)}
    if not point:
        raise ConfigError(f"no layer of {g.name!r} has {' or '.join(allowed)} to narrow")
    fast = dataclasses.replace(problem, synth=False)
    rec = evaluate(fast, point)
    evaluations = 1
    if rec["status"] != "ok" or rec[metric] > max_error:
        widest = ", ".join(f"{a} {ws[-1]} bits" for a, ws in allowed.items())
        raise ConfigError(f"even the widest configuration ({widest}) misses the budget: {metric} = "
                          f"{rec.get(metric)} > {max_error} {rec.get('error') or ''}".rstrip()
                          + "; allow wider widths or a larger budget")
    steps: list[dict] = []
    saving: dict[str, int | None] = {}  # key -> analytic LUTs saved by narrowing it one step
    fresh = True  # every key priced and tried since the last accepted step
    while True:
        for key in sorted(point):
            if key not in saving:
                saving[key] = _saving(fast, point, key, allowed, rec["lut"])
        order = sorted((k for k, v in saving.items() if v is not None and v >= 0),
                       key=lambda k: (-saving[k], k))
        for key in order:
            trial = dict(point, **{key: _narrower(allowed, key, point[key])})
            r = evaluate(fast, trial)
            evaluations += 1
            if r["status"] == "ok" and r[metric] <= max_error:
                point, rec = trial, r
                steps.append({"narrowed": key, "to": trial[key], "lut": r["lut"], metric: r[metric]})
                near = _near(g, key.rsplit(".", 1)[0])
                saving = {k: v for k, v in saving.items() if k.rsplit(".", 1)[0] not in near}
                fresh = False
                break
            saving[key] = None  # over budget: skipped until a full re-check
        else:
            if fresh:
                break
            saving, fresh = {}, True  # before stopping, retry every key against the final point
    if problem.synth:
        rec = evaluate(problem, point)
    return {"point": point, "record": rec, "steps": steps, "evaluations": evaluations}


def _narrower(allowed: dict[str, list[int]], key: str, width: int) -> int | None:
    lower = [x for x in allowed[key.rsplit(".", 1)[1]] if x < width]
    return lower[-1] if lower else None


def _saving(problem: Problem, point: dict, key: str, allowed: dict, lut: int) -> int | None:
    """Analytic LUTs saved by narrowing ``key`` one step; None when it cannot be narrowed."""
    w = _narrower(allowed, key, point[key])
    if w is None:
        return None
    cost = lut_cost(problem, dict(point, **{key: w}))
    return None if cost is None else lut - cost


def _near(g, name: str) -> set[str]:
    """Layers whose cost a change at ``name`` can move: itself, its inputs and two hops of
    consumers (a narrower result narrows the next layer's operands)."""
    near = {name, *g.node(name).inputs}
    for c in g.consumers(name):
        near |= {c.name, *(d.name for d in g.consumers(c.name))}
    return near


def versus_grid(found: dict, records: list[dict], max_error: float,
                metric: str = "mean_abs_error") -> dict | None:
    """How the search's LUTs compare with the cheapest grid point meeting the same budget
    (None when no grid point meets it): that point's id and LUTs, the difference and the ratio."""
    meeting = [r for r in records if r.get("status") == "ok" and r[metric] <= max_error]
    if not meeting:
        return None
    best = min(meeting, key=lambda r: (r["lut"], r[metric], str(r["id"])))
    lut = found["record"]["lut"]
    return {"best_grid_id": best["id"], "best_grid_lut": best["lut"], "best_grid_" + metric: best[metric],
            "lut_difference": lut - best["lut"], "lut_ratio": round(lut / best["lut"], 4)}


__all__ = ["search", "versus_grid"]
