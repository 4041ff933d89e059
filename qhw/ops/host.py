"""Host-side float prefix and suffix of an imported quantized model: the steps and how they run.

(The ONNX side, which finds the steps in a model, is :mod:`qhw.frontends.host`.)

A quantized model often starts with float arithmetic before its first quantizer (FINN's input
scaling ``2x - 1``, ``x / 255``, a Reshape/Flatten/Transpose) and ends with float arithmetic
after its last quantized tensor (a TensorNorm tail ``(x - m) / s * g + b``, an argmax by
``TopK``/``ArgMax``). The hardware cannot do that arithmetic exactly, and need not: it starts at
the first quantizer's codes and ends at the last quantized (or integer accumulator) tensor, and
these float parts run on the host, in ``qhw predict`` and wherever real values become input
codes (:meth:`qhw.ops.io.Input.encode`) or output codes real values
(:meth:`qhw.ops.io.Output.decode`).

Where the graph keeps them: the attribute ``host`` of the ``input``/``output`` node, a small
document of plain data (never pickles, never code), validated by :func:`check`::

    input:  host = {"shape": [1, 28, 28],          # one sample as the user gives it
                    "steps": [{"op": "transpose", "perm": [2, 0, 1]}, ...]}
    output: host = {"steps": [{"op": "sub", "value": [0.3], "shape": []},
                              {"op": "argmax", "axis": 1, "keepdims": 1}]}

Steps (per batch; arrays carry the batch axis first, shapes and perms are per sample):
``reshape`` (shape), ``transpose`` (perm), ``add``/``sub``/``mul``/``div`` by a float32
constant (value: flat list, shape: its ONNX shape; ``reverse``: the constant is the left
operand), ``relu``, ``argmax`` (axis, keepdims; TopK with k=1 and ArgMax both give the index of
the first maximum), ``mean`` (axes, keepdims: ONNX ReduceMean). Arithmetic is float32
throughout, one IEEE operation per ONNX node, as onnxruntime (and qonnx's ``execute_onnx``,
which runs these nodes in onnxruntime) computes it. A ``mean`` over the trailing axes sums each
row in float32 in the order of onnxruntime's CPU kernel (:func:`_eigen_row_sums`), then divides
by the count in float32; over other axes it rounds the exact sum to float32 (docs/imports.md).
The user's input is channels-last like every qhw input: a model input of rank >= 3 is first
transposed back to the ONNX layout, and the hardware input of rank >= 3 is transposed to
channels-last again (both recorded as steps).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from qhw.errors import ModelError

STEP_OPS = ("reshape", "transpose", "add", "sub", "mul", "div", "relu", "argmax", "mean")
_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
MAX_STEPS = 64


# ---------------------------------------------------------------------- checking
def _ints(value, where: str, what: str, minimum: int) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= minimum for d in value):
        raise ModelError(f"{where}: {what} {value!r} is not a list of integers >= {minimum}")
    return [int(d) for d in value]


def check(host: Any, where: str, with_shape: bool) -> None:
    """Refuse a ``host`` attribute that is not the small documented form (ModelError naming the
    node, the step and the key)."""
    from qhw import limits

    if not isinstance(host, dict):
        raise ModelError(f"{where}: attribute 'host' must be a mapping with 'steps', got {type(host).__name__}")
    valid = {"steps", "shape"} if with_shape else {"steps"}
    if set(host) - valid:
        raise ModelError(f"{where}: attribute 'host' has unknown keys {sorted(set(host) - valid)}; valid: {sorted(valid)}")
    if with_shape:
        _ints(host.get("shape"), where, "host shape", 1)
    steps = host.get("steps")
    if not isinstance(steps, (list, tuple)) or len(steps) > MAX_STEPS:
        raise ModelError(f"{where}: host steps must be a list of at most {MAX_STEPS} steps")
    for i, step in enumerate(steps):
        w = f"{where}: host step #{i}"
        if not isinstance(step, dict) or step.get("op") not in STEP_OPS:
            raise ModelError(f"{w}: {step!r} is not a step; valid ops: {', '.join(STEP_OPS)}")
        op = step["op"]
        keys = {"reshape": {"shape"}, "transpose": {"perm"}, "relu": set(),
                "argmax": {"axis", "keepdims"}, "mean": {"axes", "keepdims"}}.get(op, {"value", "shape", "reverse"})
        if set(step) - keys - {"op"}:
            raise ModelError(f"{w}: unknown keys {sorted(set(step) - keys - {'op'})} for {op!r}; valid: {sorted(keys)}")
        if op == "reshape":
            _ints(step.get("shape"), w, "shape", 1)
        elif op == "transpose":
            perm = _ints(step.get("perm"), w, "perm", 0)
            if sorted(perm) != list(range(len(perm))):
                raise ModelError(f"{w}: perm {perm} is not a permutation")
        elif op == "argmax":
            if not isinstance(step.get("axis"), int) or step.get("keepdims", 1) not in (0, 1):
                raise ModelError(f"{w}: argmax needs an integer axis and keepdims 0 or 1")
        elif op == "mean":
            axes = _ints(step.get("axes"), w, "mean axes", 0)
            if not axes or len(set(axes)) != len(axes) or step.get("keepdims", 1) not in (0, 1):
                raise ModelError(f"{w}: mean needs distinct per-sample axes (0 is the first axis after "
                                 "the batch) and keepdims 0 or 1")
        elif op in _ARITH:
            shape = _ints(step.get("shape", []), w, "constant shape", 1)
            value = step.get("value")
            if not isinstance(value, (list, tuple)):
                raise ModelError(f"{w}: value must be a flat list of numbers")
            limits.check("tensor_elements", len(value), w)
            if len(value) != math.prod(shape) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
                raise ModelError(f"{w}: value must be {math.prod(shape)} finite numbers (shape {shape})")
            if not isinstance(step.get("reverse", False), bool):
                raise ModelError(f"{w}: reverse must be true or false")


# ---------------------------------------------------------------------- running
def apply(steps, x: np.ndarray) -> np.ndarray:
    """Run the steps on a batch (batch axis first) in float32, as onnxruntime would."""
    y = np.asarray(x, np.float32)
    for step in steps:
        op = step["op"]
        if op == "reshape":
            y = y.reshape((y.shape[0], *step["shape"]))
        elif op == "transpose":
            y = np.transpose(y, (0, *[p + 1 for p in step["perm"]]))
        elif op == "relu":
            y = np.maximum(y, np.float32(0))
        elif op == "mean":
            axes = tuple(a + 1 for a in step["axes"])
            if max(axes) >= y.ndim:
                raise ModelError(f"host step mean: axes {step['axes']} of a sample of rank {y.ndim - 1}")
            count = math.prod(y.shape[a] for a in axes)
            keep = bool(step.get("keepdims", 1))
            if axes == tuple(range(y.ndim - len(axes), y.ndim)):
                total = _eigen_row_sums(y.reshape(-1, count)).reshape(y.shape[:y.ndim - len(axes)])
                total = total.reshape(total.shape + (1,) * len(axes)) if keep else total
            else:
                total = y.astype(np.float64).sum(axis=axes, keepdims=keep).astype(np.float32)
            y = (total / np.float32(count)).astype(np.float32)
        elif op == "argmax":
            y = np.argmax(y, axis=step["axis"])
            if step.get("keepdims", 1):
                y = np.expand_dims(y, step["axis"])
            y = y.astype(np.int64)
        else:
            c = np.asarray(step["value"], np.float32).reshape(step.get("shape", []))
            a, b = (c, y) if step.get("reverse") else (y, c)
            y = _ARITH[op](a, b).astype(np.float32)
    return y


def _eigen_row_sums(rows: np.ndarray) -> np.ndarray:
    """float32 sums of the rows of a contiguous (R, n) float32 array in onnxruntime's order: its
    ReduceSum/ReduceMean over trailing axes sums each row with Eigen's vectorized reduction
    (SSE packets of 4 floats): the elements before the row's first 16-byte aligned one (the
    tensor starts aligned; row r starts at element r * n) and the tail after the last whole
    packet are added one by one after the packets; the packets accumulate in two interleaved
    partial sums, added together, then the 4 lanes as (l0 + l2) + (l1 + l3). A row shorter than
    one aligned packet is summed in order. Measured equal to onnxruntime 1.32 on every row of
    random tensors (n = 1 ... 1024, every alignment)."""
    f32 = np.float32
    r_count, n = rows.shape
    out = np.empty(r_count, f32)
    offset = (np.arange(r_count) * n) % 4
    for f in range(4):
        sel = np.flatnonzero(offset == f)
        if not sel.size:
            continue
        x = np.ascontiguousarray(rows[sel], f32)
        a0 = min((4 - f) % 4, n)
        whole, pairs = (n - a0) // 4 * 4, (n - a0) // 8 * 8
        if whole == 0:
            acc = x[:, 0].copy()
            for i in range(1, n):
                acc = (acc + x[:, i]).astype(f32)
            out[sel] = acc
            continue
        p0 = x[:, a0:a0 + 4].copy()
        if whole > 4:
            p1 = x[:, a0 + 4:a0 + 8].copy()
            for i in range(a0 + 8, a0 + pairs, 8):
                p0 = (p0 + x[:, i:i + 4]).astype(f32)
                p1 = (p1 + x[:, i + 4:i + 8]).astype(f32)
            p0 = (p0 + p1).astype(f32)
            if whole > pairs:
                p0 = (p0 + x[:, a0 + pairs:a0 + pairs + 4]).astype(f32)
        half = (p0[:, :2] + p0[:, 2:]).astype(f32)
        acc = (half[:, 0] + half[:, 1]).astype(f32)
        for i in list(range(a0)) + list(range(a0 + whole, n)):
            acc = (acc + x[:, i]).astype(f32)
        out[sel] = acc
    return out


def float_input(node, x) -> np.ndarray:
    """The float model's feed for input ``node`` from the user's real values: the host prefix
    (float32), then, for an affine input, the value in units of its scale (the graph computes on
    zero-point-free codes, real = scale * code), in float64, neither rounded nor clamped."""
    if "host" in node.attrs:
        x = apply(node.attrs["host"]["steps"], x)
    x = np.asarray(x, np.float64)
    if node.attrs.get("encoding") == "affine":
        x = x / np.float64(np.float32(node.qparams.scale))
    return x


def float_output(node, y) -> np.ndarray:
    """Real values of output ``node``'s float-model result (an affine output: scale * value, in
    float64), then the host suffix (float32)."""
    y = np.asarray(y, np.float64)
    if node.attrs.get("encoding") == "affine":
        y = y * np.asarray(node.qparams.scale, np.float32).astype(np.float64)
    if "host" in node.attrs:
        y = apply(node.attrs["host"]["steps"], y)
    return y


def prefix_shape(host: dict) -> tuple[int, ...]:
    return tuple(host["shape"])


def describe(steps) -> str:
    """A short text of the steps for reports: ``mul 2, sub 1, reshape 784``."""
    out = []
    for s in steps:
        if s["op"] in _ARITH:
            v = s["value"]
            val = f"{v[0]:g}" if len(v) == 1 else f"[{len(v)} values]"
            out.append(f"{s['op']} {val}" + (" (reversed)" if s.get("reverse") else ""))
        elif s["op"] == "reshape":
            out.append("reshape " + "x".join(map(str, s["shape"])))
        elif s["op"] == "transpose":
            out.append("transpose " + ",".join(map(str, s["perm"])))
        elif s["op"] == "argmax":
            out.append(f"argmax axis {s['axis']}")
        elif s["op"] == "mean":
            out.append("mean axes " + ",".join(map(str, s["axes"])))
        else:
            out.append(s["op"])
    return ", ".join(out) or "none"
