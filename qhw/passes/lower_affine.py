"""Lower affine-quantized ops to integer ops (an :class:`AffineGraph` in, a qhw graph out).

Input: a graph of ordinary ops with float semantics (dense/conv constants as real values) in
which ``node.qparams`` marks every tensor quantized to ``s * (q - z)``, plus the weight
quantization of each dense/conv node (:class:`AffineGraph`).

Output: a graph on integer codes only. A quantized tensor is carried as its zero-point-free code
``d = q - z`` in an integer format just wide enough for ``[qmin - z, qmax - z]`` (8 bits when z is
0 or qmin, else 9); its real value is ``scale * d`` and ``node.qparams`` keeps (scale, z, bits).
Zero points so vanish from the arithmetic: zero padding of a conv is the real 0 that ONNX pads
with, a max pool compares codes directly, and the output zero point only moves the clamp bounds.

    dense/conv   acc = sum d_x * (q_w - z_w) + round-free bias b / (s_x s_w)   (integer, lossless)
    requantize   d_y = clamp(round(acc * M * 2**-n), qmin - z_y, qmax - z_y)   (requantize + clip)

How the real factor m = s_x s_w / s_y becomes M * 2**-n is the ``multiplier`` mode:
``"float32"`` reproduces onnxruntime (QLinearConv / QLinearMatMul / QGemm compute
m = fl32(fl32(s_x * s_w) / s_y) and then fl32(fl32(acc) * m), rounded half to even): M, n are
m's float32 mantissa and exponent, exact. onnxruntime's second float32 rounding of the product is
not reproduced: it differs from the exact product only within 2**-24 relative of a half-integer,
where it can tip the final rounding by one code (see :func:`ort_requantize_reference` and its
test). ``"float64"``: m in float64, approximated by a 31-bit M (a power of two exactly).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.graph import Graph, Node
from qhw.ops import FormatContext, Trait, get, group, has, is_input, is_output, names
from qhw.ops.elementwise import Add, Mul
from qhw.ops.reshape import Concat
from qhw.ops.code_table import CodeTable
from qhw.ops.code_softmax import CodeSoftmax
from qhw.ops.qlinear_add import QLinearAdd
from qhw.ops.threshold import Threshold
from qhw.ops.dense import accumulator_format
from qhw.passes.pipeline import prepare
from qhw.quant import QuantParams
from qhw.quant.requant import quantize_multiplier

#: qhw.quant rounding names -> ap_fixed rounding modes of the requantize result ("ceil" is lowered
#: as -floor(-x), "half_zero" = ties toward zero)
AP_ROUNDING = {"half_even": "RND_CONV", "half_up": "RND", "half_down": "RND_MIN_INF",
               "half_away": "RND_INF", "half_zero": "RND_ZERO", "floor": "TRN", "trunc": "TRN_ZERO",
               "ceil": "TRN"}
MULTIPLIER_MODES = ("float32", "float64")
MAC_OPS = tuple(sorted(group(Trait.MAC)))


#: ops lowered by their op class (no trait says what they compute)
_BY_CLASS = ((Add, "op_add"), (Threshold, "op_threshold"), (CodeTable, "op_code_table"), (Mul, "op_mul"),
             (CodeSoftmax, "op_code_softmax"), (Concat, "op_concat"), (QLinearAdd, "op_qlinear_add"))


def _lowering(op: str) -> str | None:
    """The method of the lowering that takes ``op`` (None: no integer lowering of its affine
    quantization): ports, dense/conv, clamps, one-input data movement, add, shift, threshold."""
    if not has(op):
        return None
    opdef = get(op)
    if is_input(op):
        return "op_input"
    if is_output(op):
        return "op_output"
    if has(op, Trait.MAC):
        return "op_mac"
    if has(op, Trait.CLAMP):
        return "op_bound"
    if has(op, Trait.MOVE) and opdef.arity == 1:
        return "op_move"
    if has(op, Trait.POINT_SHIFT):
        return "op_shift"
    for cls, method in _BY_CLASS:
        if isinstance(opdef, cls):
            return method
    if has(op, Trait.POOL):
        return "op_avg_pool"
    return None


#: ops the pass lowers
SUPPORTED = tuple(op for op in names() if _lowering(op))
_MAX_PRODUCT_BITS = 63


@dataclass
class AffineGraph:
    """A float-semantics graph plus how it is quantized.

    graph: ops as usual; ``node.qparams`` (per tensor) marks a quantized output; input nodes must
        have them. A ``clip`` without bounds stands for a plain requantization (Q after DQ).
    weights: dense/conv node -> QuantParams of its weight (per tensor, or per output channel with
        axis -1 in qhw layout); params["weight"] holds the real values s * (q - z).
    post_scale: dense/conv node -> per-output-channel real factor a applied before the bias
        (a * (x . w) + b), e.g. a folded batch norm; default 1.
    rounding: node -> rounding of the quantization of its output (qhw.quant names); default
        half_even.
    bias_codes: dense/conv node -> its bias as integer accumulator LSBs, used as given
        (onnxruntime adds the stored int32 bias, whose own scale is only ~ s_x * s_w).
    bias_lsb: dense/conv node -> its bias in accumulator LSBs as float64 binary fractions, used
        as given (PyTorch's fbgemm adds the float32 bias / fl32(s_x * s_w) to the accumulator).
    multiplier: "float32" (onnxruntime) or "float64" (see the module docstring).
    merge_multiplier: the factors of an add/mul of two quantized tensors: "float32" takes
        fl32(s_a / s_y), fl32(s_b / s_y) and fl32(fl32(s_a * s_b) / s_y) exactly (onnxruntime's
        QLinearAdd / QLinearMul kernels); "float64": the exact ratio to 31 bits.
    reference: add/mul node -> the producer's output code for every pair of input codes
        (shape (na, nb), from each input's qmin up); the lowering compares its integer form
        with it over every pair and notes any difference (which node, how many pairs, max LSB).
    exact: when False, a bias that is no short binary fraction of the accumulator LSB is rounded
        to 2**-16 of it (and noted) instead of raising.
    """

    graph: Graph
    weights: dict[str, QuantParams] = field(default_factory=dict)
    post_scale: dict[str, np.ndarray] = field(default_factory=dict)
    rounding: dict[str, str] = field(default_factory=dict)
    bias_codes: dict[str, np.ndarray] = field(default_factory=dict)
    bias_lsb: dict[str, np.ndarray] = field(default_factory=dict)
    multiplier: str = "float32"
    exact: bool = True
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    merge_multiplier: str = "float64"


def int_format(lo: int, hi: int, rounding: str = "TRN", overflow: str = "WRAP") -> FixedFormat:
    """The narrowest integer format holding [lo, hi] (and 0)."""
    lo, hi = min(int(lo), 0), max(int(hi), 0)
    if lo < 0:
        bits = 1 + max(hi.bit_length(), (-lo - 1).bit_length())
        return FixedFormat(max(bits, 2), max(bits, 2), True, rounding, overflow)
    bits = max(hi.bit_length(), 1)
    return FixedFormat(bits, bits, False, rounding, overflow)


def code_format(qp: QuantParams) -> FixedFormat:
    """The format of zero-point-free codes d = q - z of a per-tensor QuantParams."""
    z = int(qp.zero_point)
    return int_format(qp.qmin - z, qp.qmax - z)


@dataclass
class _Val:
    """What a tensor of the source graph became in the lowered one.

    kind "q": zero-point-free codes, real = qp.scale * d. kind "acc": a MAC accumulator,
    real = sx * sw * post * value (per output channel), not yet quantized; lo/hi: pending real
    clamp bounds (relu, clip) to apply when it is quantized.
    """

    name: str
    kind: str
    qp: QuantParams | None = None
    sx: float = 1.0
    sw: np.ndarray | None = None
    post: np.ndarray | None = None
    lo: float | None = None
    hi: float | None = None


class _Lowering:
    def __init__(self, model: AffineGraph) -> None:
        if model.multiplier not in MULTIPLIER_MODES:
            raise ValueError(f"multiplier mode {model.multiplier!r}; valid: {', '.join(MULTIPLIER_MODES)}")
        if model.merge_multiplier not in MULTIPLIER_MODES:
            raise ValueError(f"merge multiplier mode {model.merge_multiplier!r}; valid: {', '.join(MULTIPLIER_MODES)}")
        self.m = model
        self.src = model.graph
        self.out = Graph(self.src.name)
        self.vals: dict[str, _Val] = {}
        self.notes: list[str] = []
        #: source node -> the lowered nodes it became (in order)
        self.made: dict[str, list[str]] = {}
        self.current = ""

    # ------------------------------------------------------------------ helpers
    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.out or name in self.src and name != base:
            k += 1
            name = f"{base}_{k}"
        return name

    def emit(self, name: str, op: str, inputs: list[str], attrs=None, params=None, formats=None,
             qparams=None) -> str:
        name = name if name not in self.out else self.fresh(name)
        node = Node(name, op, list(inputs), dict(attrs or {}),
                    {k: np.asarray(v, np.float64) for k, v in (params or {}).items()},
                    dict(formats or {}), qparams=qparams)
        self.out.add(node)
        self.made.setdefault(self.current, []).append(name)
        if "result" not in node.formats:  # known now: later steps size multipliers by it
            get(op, name).check(node)
            get(op, name).infer_formats(node, [self.out.node(s).formats["result"] for s in inputs],
                                        FormatContext())
        return name

    def quantized(self, node: Node, v: _Val, what: str = "input") -> _Val:
        if v.kind != "q":
            raise ModelError(f"node {node.name!r} ({node.op}): its {what} {v.name!r} is a float "
                             "intermediate (no quantization after the MAC that produced it); qhw "
                             "needs quantized tensors here to stay in exact integer arithmetic")
        return v

    @staticmethod
    def per_tensor(node: Node, qp: QuantParams, what: str) -> None:
        if not qp.is_per_tensor:
            raise ModelError(f"node {node.name!r}: {what} is quantized per axis; qhw lowers "
                             "per-axis quantization of weights only, activations must be per tensor")

    def rounding(self, node: Node) -> str:
        r = self.m.rounding.get(node.name, "half_even")
        if r not in AP_ROUNDING:
            raise ModelError(f"node {node.name!r}: rounding {r!r} has no exact integer lowering; "
                             f"valid: {', '.join(AP_ROUNDING)}")
        return r

    # ------------------------------------------------------------------ multipliers
    def multipliers(self, node: Node, m: np.ndarray, in_fmt: FixedFormat, float32: bool):
        """(M per channel or scalar list, common right shift n) with M * 2**-n = m (float32 m
        exactly; float64 m to 31 bits). Narrowed, and noted, if acc * M would pass 63 bits."""
        m = np.atleast_1d(np.asarray(m, np.float64))
        if not np.all(np.isfinite(m)) or np.any(m == 0):
            raise ModelError(f"node {node.name!r}: requantization factor {m} is not finite and non-zero")
        sign = np.sign(m).astype(np.int64)
        a = np.abs(m)
        if float32:
            mant, exp = np.frexp(a)
            M, n = np.rint(np.ldexp(mant, 24)).astype(np.int64), (24 - exp).astype(np.int64)
        else:
            M, n = quantize_multiplier(a, 32)
        while np.all(M % 2 == 0) and np.all(n > 0):  # drop common trailing zero bits
            M, n = M // 2, n - 1
        common = int(n.max())
        if common < 0:
            M, common = M << (-common), 0
        M = [int(v) << int(common - k) for v, k in zip(M, n)]
        width = max(abs(v).bit_length() for v in M) + 1
        excess = in_fmt.width + width - _MAX_PRODUCT_BITS
        if excess > 0:
            k = min(excess, common)
            M = [int(np.rint(v / 2.0**k)) for v in M]
            common -= k
            self.notes.append(f"{node.name}: requantization multipliers narrowed by {k} bits to keep "
                              f"acc * M within {_MAX_PRODUCT_BITS} bits (not exact)")
        return [int(s) * v for s, v in zip(sign, M)], common

    # ------------------------------------------------------------------ requantize
    def requantize(self, node: Node, v: _Val, qp: QuantParams, ratio: float | None = None) -> _Val:
        """v (q or acc) -> zero-point-free codes of ``qp`` with the node's rounding, clamped.
        ratio: the real factor from v's codes to qp's, when the producer fixes it as a float32
        (onnxruntime's fl32(s_in / s_out)): taken exactly."""
        self.per_tensor(node, qp, "its output")
        rounding = self.rounding(node)
        s_out, z = float(qp.scale), int(qp.zero_point)
        lo, hi = qp.qmin - z, qp.qmax - z
        if v.lo is not None:
            lo = max(lo, _round_scalar(v.lo / s_out, rounding))
        if v.hi is not None:
            hi = min(hi, _round_scalar(v.hi / s_out, rounding))
        if lo > hi:
            raise ModelError(f"node {node.name!r}: clamp bounds [{v.lo}, {v.hi}] leave no code of {qp}")
        in_fmt = self.out.node(v.name).formats["result"]
        if v.kind == "acc":
            f32 = self.m.multiplier == "float32"
            if f32:
                m = (np.float32(v.sx) * v.sw.astype(np.float32)) / np.float32(s_out)
                m = m.astype(np.float64) * (v.post if v.post is not None else 1.0)
            else:
                m = v.sx * v.sw * (v.post if v.post is not None else 1.0) / s_out
        elif ratio is not None:
            f32, m = True, np.array([float(ratio)])
        else:
            f32 = False
            m = np.array([float(v.qp.scale) / s_out])
        if m.size > 1 and np.all(m == m[0]):
            m = m[:1]
        out_fmt = int_format(lo, hi, AP_ROUNDING[rounding], "SAT")
        cur = v.name
        identity = m.size == 1 and m[0] == 1.0 and in_fmt.is_integer
        if not identity:
            M, n = self.multipliers(node, m, in_fmt, f32)
            if rounding == "ceil":  # ceil(x) = -floor(-x)
                neg = int_format(-hi, -lo, "TRN", "SAT")
                cur = self.emit(f"{node.name}_rq", "requantize", [cur],
                                {"multiplier": _mlist(-np.asarray(M)), "shift": n}, formats={"result": neg})
                cur = self.emit(f"{node.name}_neg", "requantize", [cur], {"multiplier": -1, "shift": 0},
                                formats={"result": out_fmt})
            else:
                cur = self.emit(f"{node.name}_rq", "requantize", [cur],
                                {"multiplier": _mlist(np.asarray(M)), "shift": n},
                                formats={"result": out_fmt})
        if (out_fmt.raw_min, out_fmt.raw_max) != (lo, hi) or identity:
            same = identity and (in_fmt.raw_min, in_fmt.raw_max) == (lo, hi)
            if not same:
                cur = self.emit(f"{node.name}_clip", "clip", [cur],
                                {"min_value": float(lo), "max_value": float(hi)},
                                formats={"result": out_fmt.with_modes("TRN", "WRAP")})
        self.out.node(cur).qparams = qp
        return _Val(cur, "q", qp)

    # ------------------------------------------------------------------ ops
    def op_input(self, node: Node) -> _Val:
        qp = node.qparams
        if qp is None:
            raise ModelError(f"input {node.name!r} is not quantized: an affine graph needs a "
                             "QuantizeLinear/Quant on every input (for a QONNX model, "
                             "import_qonnx(..., input_quant={name: QuantParams(...)}) states how "
                             "the data is quantized)")
        self.per_tensor(node, qp, "the input")
        name = self.emit(node.name, "input", [], {**node.attrs, "encoding": "affine"},
                         formats={"result": code_format(qp)},
                         qparams=qp)
        return _Val(name, "q", qp)

    def op_mac(self, node: Node, x: _Val) -> _Val:
        x = self.quantized(node, x)
        self.per_tensor(node, x.qp, "its input")
        wq = self.m.weights.get(node.name)
        if wq is None:
            raise ModelError(f"{node.op} {node.name!r}: its weight is not quantized; an exact integer "
                             "MAC needs quantized weights")
        w = np.asarray(node.params["weight"], np.float64)
        cout = w.shape[-1]
        sw = np.broadcast_to(np.asarray(wq.scale, np.float64), (cout,)).copy()
        zw = np.broadcast_to(np.asarray(wq.zero_point, np.int64), (cout,))
        ratio = w / sw
        dw = np.rint(ratio)
        if np.any(np.abs(ratio - dw) > 1e-6 * np.maximum(1.0, np.abs(dw))):
            raise ModelError(f"{node.op} {node.name!r}: weights are not on the grid of their "
                             f"quantization (scale {wq.scale})")
        if np.any(dw + zw < wq.qmin) or np.any(dw + zw > wq.qmax):
            raise ModelError(f"{node.op} {node.name!r}: weight codes leave [{wq.qmin}, {wq.qmax}]")
        sx = float(x.qp.scale)
        post = self.m.post_scale.get(node.name)
        post = None if post is None else np.broadcast_to(np.asarray(post, np.float64), (cout,)).copy()
        # Pruned channels: no weights, or a batch-norm factor below float32's range (Brevitas
        # stores ~1e-43 and ~1e-12 scales for them), hold only their bias. Their weights become
        # zero and their scales the median of the others: exact for the bias, and without it a
        # tiny scale makes the bias astronomically many accumulator LSBs.
        dead = np.all(dw.reshape(-1, cout) == 0, axis=0)
        # the largest the products can move a channel, in real units, against its bias: below
        # half a float32 ulp of the bias they vanish in the producer's own (float32) arithmetic
        xmax = max(abs(x.qp.qmin - int(x.qp.zero_point)), abs(x.qp.qmax - int(x.qp.zero_point)))
        reach = sx * xmax * np.abs(sw) * np.abs(dw).reshape(-1, cout).sum(axis=0)
        if post is not None:
            reach = reach * np.abs(post)
        bias_real = np.abs(np.broadcast_to(np.asarray(node.params.get("bias", 0.0), np.float64), (cout,)))
        faded = ~dead & ((reach < 2.0**-25 * bias_real) | (post is not None and np.abs(post) < 1e-30))
        if np.any(faded):
            self.notes.append(f"{node.name}: {int(np.sum(faded))} channel(s) whose products cannot "
                              "reach half a float32 ulp of their bias treated as constant")
        dead |= faded
        if dead.any() and not dead.all():
            dw = dw.copy()
            dw.reshape(-1, cout)[:, dead] = 0
            sw[dead] = np.median(sw[~dead])
            if post is not None:
                post[dead] = np.median(post[~dead])
        acc_scale = sx * sw * (post if post is not None else 1.0)
        params = {"weight": dw}
        formats = {"weight": int_format(int(dw.min(initial=0)), int(dw.max(initial=0)))}
        if node.name in self.m.bias_codes:
            b = np.broadcast_to(np.asarray(self.m.bias_codes[node.name], np.int64), (cout,))
            params["bias"] = b.astype(np.float64)
            formats["bias"] = int_format(int(b.min(initial=0)), int(b.max(initial=0)))
        elif node.name in self.m.bias_lsb:
            b = np.broadcast_to(np.asarray(self.m.bias_lsb[node.name], np.float64), (cout,))
            params["bias"], formats["bias"] = self.bias(node, b)
        elif "bias" in node.params:
            b, bf = self.bias(node, np.asarray(node.params["bias"], np.float64) / acc_scale)
            params["bias"], formats["bias"] = b, bf
        in_fmt = self.out.node(x.name).formats["result"]
        terms = int(np.prod(w.shape[:-1]))
        acc = accumulator_format(in_fmt, formats["weight"], formats.get("bias"), terms)
        formats["accum"] = formats["result"] = acc
        name = self.emit(node.name, node.op, [x.name], dict(node.attrs), params, formats)
        return _Val(name, "acc", sx=sx, sw=sw, post=post)

    def bias(self, node: Node, b: np.ndarray) -> tuple[np.ndarray, FixedFormat]:
        """The bias in accumulator LSBs: an integer (onnxruntime's int32 bias) or a short binary
        fraction (QONNX float bias on power-of-two scales)."""
        if not np.all(np.isfinite(b)):
            raise ModelError(f"{node.op} {node.name!r}: bias / (s_x s_w) is not finite")
        frac = None
        if np.all(np.abs(b - np.rint(b)) <= 1e-6 * np.maximum(1.0, np.abs(b))):
            frac, b = 0, np.rint(b)  # an integer up to the float error of forming b
        else:
            for f in range(1, 33):  # a binary fraction: exactly (power-of-two scales)
                if np.all(np.ldexp(b, f) == np.rint(np.ldexp(b, f))):
                    frac = f
                    break
        if frac is None:
            if self.m.exact:
                raise ModelError(f"{node.op} {node.name!r}: the bias is not a multiple of 2**-32 of "
                                 "the accumulator LSB (s_x * s_w): no exact integer bias; import "
                                 "with exact=False to round it")
            frac = 16
            dev = float(np.max(np.abs(np.ldexp(np.rint(np.ldexp(b, frac)), -frac) - b), initial=0.0))
            self.notes.append(f"{node.name}: bias rounded to 2**-16 of the accumulator LSB (not exact; "
                              f"largest deviation {dev:.3g} accumulator LSB)")
        raw = np.rint(np.ldexp(b, frac))
        fmt = int_format(int(raw.min(initial=0)), int(raw.max(initial=0)))
        fmt = FixedFormat(fmt.width, fmt.width - frac, fmt.signed)
        return np.ldexp(raw, -frac), fmt

    def op_bound(self, node: Node, v: _Val, lo: float | None, hi: float | None) -> _Val:
        """relu / relu6 / clip: pending bounds on an accumulator; on codes, a clamp at codes when
        the bounds lie on the grid (a requantization applies them otherwise)."""
        nv = _Val(v.name, v.kind, v.qp, v.sx, v.sw, v.post, _tighter(v.lo, lo, max), _tighter(v.hi, hi, min))
        if node.qparams is not None:
            return self.requantize(node, nv, node.qparams)
        if v.kind == "acc":
            return nv
        s = float(v.qp.scale)
        codes = [None if b is None else b / s for b in (lo, hi)]
        if any(c is not None and c != math.floor(c) for c in codes):
            raise ModelError(f"{node.op} {node.name!r}: bounds {lo}, {hi} are not on the grid of "
                             f"scale {s} and no quantization follows")
        name = self.emit(node.name, "clip", [v.name], {"min_value": codes[0], "max_value": codes[1]},
                         qparams=v.qp)
        return _Val(name, "q", v.qp)

    def op_move(self, node: Node, v: _Val) -> _Val:
        """maxpool, flatten, reshape, upsample, depth_to_space: on codes (a positive per-tensor
        scale commutes with them), or on a MAC accumulator whose scale is one for every channel
        (it stays pending: relu/clip bounds and the quantization after it still apply)."""
        if v.kind == "acc":
            k = v.sx * v.sw * (v.post if v.post is not None else 1.0)
            if np.all(k == k.flat[0]) and k.flat[0] > 0:
                name = self.emit(node.name, node.op, [v.name], dict(node.attrs))
                post = None if v.post is None else np.asarray(v.post, np.float64).ravel()[:1]
                out = _Val(name, "acc", None, v.sx, np.asarray(v.sw, np.float64).ravel()[:1], post, v.lo, v.hi)
                return self.requantize(node, out, node.qparams) if node.qparams is not None else out
        v = self.quantized(node, v)
        name = self.emit(node.name, node.op, [v.name], dict(node.attrs), qparams=v.qp)
        out = _Val(name, "q", v.qp)
        if node.qparams is not None and node.qparams != v.qp:
            out = self.requantize(node, out, node.qparams)
        return out

    def op_threshold(self, node: Node, v: _Val) -> _Val:
        """Thresholds on real values -> thresholds on the codes of the lowered input.

        On quantized codes d (real = s * d): the first code whose value, computed as qonnx does
        (float32 d times float32 s), reaches the float32 threshold. On a MAC accumulator (FINN's
        MatMul -> MultiThreshold; real = k_c * code per channel, pending relu/clip bounds
        applied): the first code with k_c * code >= T in float64. The output
        y = out_bias + out_scale * count becomes codes p + q * count with scale out_scale / q,
        where out_bias / out_scale = p / q."""
        from fractions import Fraction

        fmt = self.out.node(v.name).formats["result"]
        thr = np.asarray(node.params["thresholds"], np.float64)
        if v.kind == "q":
            self.per_tensor(node, v.qp, "the input")
            s = float(v.qp.scale)
            if fmt.width <= 24:
                d = np.arange(fmt.raw_min, fmt.raw_max + 1)
                vals = d.astype(np.float32) * np.float32(s)  # increasing in d (s > 0)
                codes = np.searchsorted(vals, thr.astype(np.float32).ravel(), side="left") + fmt.raw_min
                codes = codes.reshape(thr.shape)
            else:
                codes = np.ceil(thr / (s * fmt.lsb))
                self.notes.append(f"{node.name}: thresholds rounded to codes in float64")
        else:
            k = v.sx * v.sw * (v.post if v.post is not None else 1.0) * fmt.lsb  # per channel
            if np.any(k <= 0):
                raise ModelError(f"threshold {node.name!r}: its input accumulator has a non-positive "
                                 "channel scale (a negative batch-norm factor); thresholds would flip")
            t = np.broadcast_to(thr, (k.size, thr.shape[1])) if thr.shape[0] == 1 else thr
            if v.lo is not None:  # relu/clip before the thresholds: at or below lo always counts
                t = np.where(t <= v.lo, -np.inf, t)
            if v.hi is not None:
                t = np.where(t > v.hi, np.inf, t)
            kc = k[:, None]
            with np.errstate(invalid="ignore"):
                codes = np.ceil(t / kc)
                fin = np.isfinite(codes)
                codes = np.where(fin & ((codes - 1) * kc >= t), codes - 1, codes)  # exact in float64
                codes = np.where(fin & (codes * kc < t), codes + 1, codes)
            codes = np.where(np.isneginf(t), fmt.raw_min, np.where(np.isposinf(t), fmt.raw_max + 1, codes))
        codes = np.clip(codes, fmt.raw_min, fmt.raw_max + 1).astype(np.float64)
        a, b = float(node.attrs["out_scale"]), float(node.attrs["out_bias"])
        ratio = Fraction(b / a).limit_denominator(1 << 16) if a > 0 else None
        if ratio is None or not math.isclose(a * ratio.numerator / ratio.denominator, b,
                                             rel_tol=1e-9, abs_tol=1e-12 * abs(a)):
            raise ModelError(f"threshold {node.name!r}: out_scale {a} and out_bias {b} do not make "
                             "the outputs a positive scale times integers")
        p, q = ratio.numerator, ratio.denominator
        out_fmt = int_format(p, p + q * thr.shape[1])
        qp = QuantParams(a / q, 0, out_fmt.width, out_fmt.signed)
        name = self.emit(node.name, "threshold", [v.name], {"out_scale": float(q), "out_bias": float(p)},
                         {"thresholds": codes * fmt.lsb}, formats={"result": out_fmt}, qparams=qp)
        out = _Val(name, "q", qp)
        if node.qparams is not None and node.qparams != qp:
            out = self.requantize(node, out, node.qparams)
        return out

    def op_code_table(self, node: Node, v: _Val) -> _Val:
        """A table of output codes per input code (params["table"][q - qmin] = q_out of the
        node's qparams): re-indexed by the zero-point-free code over the input format's whole
        raw range (codes outside [qmin, qmax] cannot occur; they read the edge entries), holding
        zero-point-free output codes."""
        v = self.quantized(node, v)
        qp_in, qp = v.qp, node.qparams
        self.per_tensor(node, qp_in, "its input")
        self.per_tensor(node, qp, "its output")
        table = np.asarray(node.params["table"], np.int64)
        z_in, z = int(qp_in.zero_point), int(qp.zero_point)
        if table.ndim not in (1, 2) or table.shape[-1] != qp_in.qmax - qp_in.qmin + 1:
            raise ModelError(f"code_table {node.name!r}: {table.shape[-1] if table.ndim else 0} entries "
                             f"for input codes [{qp_in.qmin}, {qp_in.qmax}]")
        in_fmt = self.out.node(v.name).formats["result"]
        raw = np.arange(in_fmt.raw_min, in_fmt.raw_max + 1)
        d = np.clip(raw, qp_in.qmin - z_in, qp_in.qmax - z_in)
        full = table[..., d - (qp_in.qmin - z_in)] - z  # per-channel tables: one row each
        name = self.emit(node.name, "code_table", [v.name], params={"table": full},
                         formats={"result": code_format(qp)}, qparams=qp)
        return _Val(name, "q", qp)

    def op_code_softmax(self, node: Node, v: _Val) -> _Val:
        """Softmax of codes (params exp per code difference, out: q_out per rounded quotient):
        differences do not see the input zero point; the output codes lose theirs."""
        v = self.quantized(node, v)
        qp = node.qparams
        self.per_tensor(node, v.qp, "its input")
        self.per_tensor(node, qp, "its output")
        out = np.asarray(node.params["out"], np.int64) - int(qp.zero_point)
        name = self.emit(node.name, "code_softmax", [v.name], dict(node.attrs),
                         {"exp": node.params["exp"], "out": out}, formats={"result": code_format(qp)},
                         qparams=qp)
        return _Val(name, "q", qp)
    def op_qlinear_add(self, node: Node, a: _Val, b: _Val) -> _Val:
        """onnxruntime's QLinearAdd kernel (qhw.ops.qlinear_add; its table indexed by b's code
        from qmin): the table re-indexed by b's zero-point-free code over its format's whole raw
        range (codes outside [qmin, qmax] cannot occur; they read the edge entries)."""
        a, b = self.quantized(node, a, "first input"), self.quantized(node, b, "second input")
        qp = node.qparams
        for qpx, what in ((a.qp, "its first input"), (b.qp, "its second input"), (qp, "its output")):
            self.per_tensor(node, qpx, what)
        table = np.asarray(node.params["table"], np.float64)
        zb = int(b.qp.zero_point)
        if table.shape != (b.qp.qmax - b.qp.qmin + 1,):
            raise ModelError(f"qlinear_add {node.name!r}: {table.size} table entries for codes "
                             f"[{b.qp.qmin}, {b.qp.qmax}]")
        fb = self.out.node(b.name).formats["result"]
        d = np.clip(np.arange(fb.raw_min, fb.raw_max + 1), b.qp.qmin - zb, b.qp.qmax - zb)
        name = self.emit(node.name, "qlinear_add", [a.name, b.name], dict(node.attrs),
                         {"table": table[d - (b.qp.qmin - zb)]}, formats={"result": code_format(qp)},
                         qparams=qp)
        return self._check_reference(node, a, b, _Val(name, "q", qp))

    def op_avg_pool(self, node: Node, v: _Val) -> _Val:
        """An average pool of codes: the exact window sum S of zero-point-free codes (an avgpool
        with divisor 1), then the output code of every reachable S.

        ``params["sum_codes"]`` (optional) lists (S, output code q, ambiguous) rows over every
        reachable S, computed by the producer's runtime (qhw.frontends.onnx_qdq runs onnxruntime
        on them: its float32 arithmetic is not one rounding of S * s_in / (N * s_out)); without
        it the target is that exact rational rounded half to even. The codes then come from a
        requantizer when one (M, shift) reproduces every row (proven on all of them: the
        interval of multipliers each row allows is intersected, and a point strictly inside,
        where no row is at a rounding tie, is taken), else from a table indexed by S."""
        from fractions import Fraction

        from qhw import limits

        v = self.quantized(node, v)
        qp_in, qp = v.qp, node.qparams
        if qp is None:
            raise ModelError(f"{node.op} {node.name!r}: an average of quantized codes needs a "
                             "quantization of its output")
        self.per_tensor(node, qp_in, "its input")
        self.per_tensor(node, qp, "its output")
        opdef = get(node.op, node.name)
        taps, divisor = opdef.taps(node), opdef.divisor(node)
        z_in, z = int(qp_in.zero_point), int(qp.zero_point)
        lo_d, hi_d = min(qp_in.qmin - z_in, 0), max(qp_in.qmax - z_in, 0)
        s_lo, s_hi = taps * lo_d, taps * hi_d
        lo, hi = qp.qmin - z, qp.qmax - z
        if "f32_thresholds" in node.params:
            return self._float32_pool(node, v, qp_in, qp, lo_d, hi_d, lo)
        if "class_codes" in node.params:
            return self._edge_pool(node, v, qp, s_lo, s_hi, lo, hi)
        sums = np.arange(s_lo, s_hi + 1)
        rows = node.params.get("sum_codes")
        ambiguous = 0
        if rows is None:
            m = Fraction(float(qp_in.scale)) / (divisor * Fraction(float(qp.scale)))
            target = np.array([_round_half_even(Fraction(int(k)) * m) for k in sums])
        else:
            rows = np.asarray(rows, np.float64).reshape(-1, 3)
            if rows.shape[0] != sums.size or np.any(rows[:, 0] != sums):
                raise ModelError(f"{node.op} {node.name!r}: its table of window sums does not list "
                                 f"every reachable sum {s_lo}..{s_hi} once, in order")
            target = rows[:, 1].astype(np.int64) - z
            ambiguous = int(np.count_nonzero(rows[:, 2]))
        target = np.clip(target, lo, hi)
        sum_fmt = int_format(s_lo, s_hi)
        attrs = {**node.attrs, "divisor": 1}
        cur = self.emit(f"{node.name}_sum", node.op, [v.name], attrs, formats={"result": sum_fmt})
        how = _requantizer_for(sums, target, lo, hi)
        if how is not None:
            M, n = how
            out_fmt = int_format(lo, hi, "RND_CONV", "SAT")
            cur = self.emit(f"{node.name}_rq", "requantize", [cur], {"multiplier": M, "shift": n},
                            formats={"result": out_fmt})
            if (out_fmt.raw_min, out_fmt.raw_max) != (lo, hi):
                cur = self.emit(f"{node.name}_clip", "clip", [cur], {"min_value": float(lo), "max_value": float(hi)},
                                formats={"result": out_fmt.with_modes("TRN", "WRAP")})
            made = (f"window sum times {M} * 2**-{n}, equal to the target on all {sums.size} "
                    "reachable sums")
        else:
            raw = np.arange(sum_fmt.raw_min, sum_fmt.raw_max + 1)
            limits.check("table_entries", int(raw.size), f"{node.op} {node.name!r}, table of window sums")
            full = target[np.clip(raw, s_lo, s_hi) - s_lo]
            cur = self.emit(f"{node.name}_table", "code_table", [cur], params={"table": full},
                            formats={"result": code_format(qp)})
            made = f"a table of the {sums.size} reachable window sums (no requantizer reproduces them all)"
        self.out.node(cur).qparams = qp
        src = "the producer runtime's own code for each sum" if rows is not None \
            else "the exact average rounded half to even"
        self.notes.append(f"{node.name}: average pool = {made}; the target is {src}")
        if ambiguous:
            self.notes.append(f"{node.name}: for {ambiguous} of {sums.size} window sums the producer's "
                              "float32 arithmetic decides the rounding (windows with equal sums may round "
                              "one LSB apart there); qhw takes the code most windows of that sum get")
        return _Val(cur, "q", qp)

    def _edge_pool(self, node: Node, v: _Val, qp, s_lo: int, s_hi: int, lo: int, hi: int) -> _Val:
        """An average pool whose divisor depends on the window position (ONNX count_include_pad=0
        with padding, ceil_mode=1): the exact window sum S (zero-padded codes), then a code table
        with one row per divisor class (``params["class_codes"]``: (S, output code, ambiguous)
        rows of the producer's runtime for every reachable S), each output element reading the
        row of its position's class (``params["element_class"]``, one per output element, channels
        last; the code table checks their count against its input)."""
        from qhw import limits

        codes = np.asarray(node.params["class_codes"], np.float64)
        rows = np.asarray(node.params["element_class"], np.int64).reshape(-1)
        sums = np.arange(s_lo, s_hi + 1)
        if codes.ndim != 3 or codes.shape[1:] != (sums.size, 3) or np.any(codes[:, :, 0] != sums):
            raise ModelError(f"{node.op} {node.name!r}: its per-position tables of window sums do not "
                             f"list every reachable sum {s_lo}..{s_hi} per class")
        target = np.clip(codes[:, :, 1].astype(np.int64) - int(qp.zero_point), lo, hi)
        sum_fmt = int_format(s_lo, s_hi)
        cur = self.emit(f"{node.name}_sum", node.op, [v.name], {**node.attrs, "divisor": 1},
                        formats={"result": sum_fmt})
        raw = np.arange(sum_fmt.raw_min, sum_fmt.raw_max + 1)
        limits.check("table_entries", int(raw.size) * codes.shape[0],
                     f"{node.op} {node.name!r}, tables of window sums")
        table = target[:, np.clip(raw, s_lo, s_hi) - s_lo]
        cur = self.emit(f"{node.name}_table", "code_table", [cur], params={"table": table, "rows": rows},
                        formats={"result": code_format(qp)})
        self.out.node(cur).qparams = qp
        divisors = node.params.get("class_divisors")
        which = "" if divisors is None else \
            " (divisors " + ", ".join(str(int(d)) for d in np.asarray(divisors).reshape(-1)) + ")"
        self.notes.append(f"{node.name}: average pool = window sum, then a table of the {sums.size} "
                          f"reachable sums per position class{which}, {codes.shape[0]} classes; the "
                          "target is the producer runtime's own code for each sum")
        ambiguous = int(np.count_nonzero(codes[:, :, 2]))
        if ambiguous:
            self.notes.append(f"{node.name}: for {ambiguous} (class, window sum) pairs the producer's "
                              "float32 arithmetic decides the rounding (windows with equal sums may round "
                              "one LSB apart there); qhw takes the code most windows of that sum get")
        return _Val(cur, "q", qp)

    def _float32_pool(self, node: Node, v: _Val, qp_in, qp, lo_d: int, hi_d: int, lo: int) -> _Val:
        """The producer's float32 window sum reproduced bit for bit (qhw.ops.fsum_pool): the
        float32 value fl32(d * s_in) of every zero-point-free code d, and
        ``params["f32_thresholds"]`` (the smallest float32 sum giving each output code above
        ``lo``) and ``params["f32_order"]`` (the adds, qhw.ops.fsum_pool ``order``), found by the
        frontend from the producer's own arithmetic."""
        opdef = get(node.op, node.name)
        d = np.arange(lo_d, hi_d + 1)
        values = (d.astype(np.float32) * np.float32(qp_in.scale)).astype(np.float32)
        attrs = {k: node.attrs[k] for k in ("kernel_size", "stride", "padding") if k in node.attrs}
        attrs.update(code_min=int(lo_d), out_min=int(lo))
        if "f32_order" in node.params:
            attrs["order"] = np.asarray(node.params["f32_order"], np.int64).reshape(-1, 2).tolist()
        cur = self.emit(node.name, f"fsum_pool{opdef.dims}d", [v.name], attrs,
                        params={"values": values, "thresholds": node.params["f32_thresholds"]})
        self.out.node(cur).qparams = qp
        self.notes.append(f"{node.name}: average pool = the producer's float32 window sum reproduced "
                          f"bit for bit, then {int(node.params['f32_thresholds'].size)} "
                          "float32 thresholds to the output code")
        return _Val(cur, "q", qp)

    def op_shift(self, node: Node, v: _Val) -> _Val:
        """x * 2**shift: the same codes with the scale moved (nothing emitted)."""
        f = 2.0 ** int(node.attrs["shift"])
        if v.kind == "acc":
            post = (v.post if v.post is not None else np.ones_like(v.sw)) * f
            out = _Val(v.name, "acc", None, v.sx, v.sw, post,
                       None if v.lo is None else v.lo * f, None if v.hi is None else v.hi * f)
        else:
            qp = v.qp
            out = _Val(v.name, "q", QuantParams(qp.scale * f, qp.zero_point, qp.bits, qp.signed,
                                                qp.narrow_range))
        if node.qparams is not None:
            out = self.requantize(node, out, node.qparams)
        return out

    def _ratio(self, s_in: float, s_out: float) -> float | None:
        """onnxruntime's float32 factor fl32(s_in / s_out) (merge_multiplier "float32"), else None."""
        if self.m.merge_multiplier != "float32":
            return None
        return float(np.float32(s_in) / np.float32(s_out))

    def op_add(self, node: Node, a: _Val, b: _Val) -> _Val:
        """a + b requantized: d_y = round(d_a * r_a + d_b * r_b), r = s_in / s_y (float32 in
        onnxruntime's mode, as its QLinearAdd kernel takes them), exact products, one rounding."""
        a, b = self.quantized(node, a, "first input"), self.quantized(node, b, "second input")
        qp = node.qparams
        if qp is None:
            raise ModelError(f"add {node.name!r}: its output is not quantized; qhw needs a "
                             "quantization after an add of two differently scaled tensors")
        self.per_tensor(node, qp, "its output")
        sa, sb, sy = float(a.qp.scale), float(b.qp.scale), float(qp.scale)
        if sa == sb:
            s = self.emit(node.name, "add", [a.name, b.name])
            out = self.requantize(node, _Val(s, "q", QuantParams(sa, 0, 64)), qp, self._ratio(sa, sy)) \
                if sa != sy else self._finish_add(node, s, qp)
            return self._check_reference(node, a, b, out)
        terms = []
        f32 = self.m.merge_multiplier == "float32"
        (ma, mb) = (self._ratio(sa, sy), self._ratio(sb, sy)) if f32 else (sa / sy, sb / sy)
        for v, m, tag in ((a, ma, "a"), (b, mb, "b")):
            fmt = self.out.node(v.name).formats["result"]
            M, n = self.multipliers(node, np.array([m]), fmt, f32)
            terms.append((v, M[0], n, fmt))
        n = max(t[2] for t in terms)
        names = []
        for (v, M, k, fmt), tag in zip(terms, "ab"):
            M = M << (n - k)
            mw = abs(M).bit_length() + 1
            exact = FixedFormat(fmt.width + mw, fmt.integer_bits + mw - n, True)
            names.append(self.emit(f"{node.name}_{tag}", "requantize", [v.name],
                                   {"multiplier": M, "shift": n}, formats={"result": exact}))
        s = self.emit(node.name, "add", names)
        return self._check_reference(node, a, b, self._finish_add(node, s, qp))

    def op_mul(self, node: Node, a: _Val, b: _Val) -> _Val:
        """a * b requantized: the exact product of the codes d_a * d_b, then one requantization
        by s_a s_b / s_y (onnxruntime's QLinearMul: fl32(fl32(s_a * s_b) / s_y))."""
        a, b = self.quantized(node, a, "first input"), self.quantized(node, b, "second input")
        qp = node.qparams
        if qp is None:
            raise ModelError(f"mul {node.name!r}: its output is not quantized; qhw needs a "
                             "quantization after a product of two quantized tensors")
        self.per_tensor(node, qp, "its output")
        sa, sb, sy = float(a.qp.scale), float(b.qp.scale), float(qp.scale)
        p = self.emit(node.name, "mul", [a.name, b.name])
        ratio = float(np.float32(np.float32(sa) * np.float32(sb)) / np.float32(sy)) \
            if self.m.merge_multiplier == "float32" else None
        out = self.requantize(node, _Val(p, "q", QuantParams(sa * sb, 0, 64)), qp, ratio)
        return self._check_reference(node, a, b, out)

    def op_concat(self, node: Node, *vs: _Val) -> _Val:
        """Concatenated codes of one quantization. The importers give every input the output's
        quantization first (onnxruntime's per-input tables, as code tables); an input that still
        differs is requantized here in integer arithmetic (noted: not the producer's tables)."""
        vs = [self.quantized(node, v, f"input {i}") for i, v in enumerate(vs)]
        qp = node.qparams or vs[0].qp
        self.per_tensor(node, qp, "its output")
        names = []
        for i, v in enumerate(vs):
            if v.qp != qp:
                self.notes.append(f"{node.name}: input {i} requantized from {v.qp} to {qp} in "
                                  "integer arithmetic (round half to even)")
                v = self.requantize(node, v, qp)
            names.append(v.name)
        name = self.emit(node.name, "concat", names, dict(node.attrs), qparams=qp)
        return _Val(name, "q", qp)

    def _check_reference(self, node: Node, a: _Val, b: _Val, out: _Val) -> _Val:
        """Compare the integer form just emitted for ``node`` with the producer's output codes
        over every pair of input codes (AffineGraph.reference); note any difference."""
        ref = self.m.reference.get(node.name)
        if ref is None:
            return out
        from qhw.ops import GoldenContext

        ref = np.asarray(ref, np.int64)
        da = np.arange(a.qp.qmin, a.qp.qmax + 1) - int(a.qp.zero_point)
        db = np.arange(b.qp.qmin, b.qp.qmax + 1) - int(b.qp.zero_point)
        if a.name == b.name and ref.shape == (da.size,):  # one tensor read twice: every code
            vals = {a.name: da.reshape(-1, 1)}
        elif ref.shape == (da.size, db.size) and a.name != b.name:
            ga, gb = np.meshgrid(da, db, indexing="ij")
            vals = {a.name: ga.reshape(-1, 1), b.name: gb.reshape(-1, 1)}
        else:
            self.notes.append(f"{node.name}: not compared with the producer over every code pair")
            return out
        ctx = GoldenContext(count_overflow=False)
        for name in self.made[self.current]:
            n = self.out.node(name)
            if name in vals:
                continue
            fmts = [self.out.node(i).formats["result"] for i in n.inputs]
            vals[name] = get(n.op, name).golden(n, [vals[i] for i in n.inputs], fmts, ctx)
        mine = vals[out.name].reshape(ref.shape) + int(out.qp.zero_point)
        diff = np.abs(mine - ref)
        k = int((diff > 0).sum())
        if k:
            self.notes.append(f"{node.name}: {k} of {ref.size} input code {'pairs' if ref.ndim == 2 else 'values'} ({100.0 * k / ref.size:.3g}%) "
                              f"differ from onnxruntime's float32 arithmetic by up to {int(diff.max())} LSB "
                              "(its float32 rounding near a tie)")
        return out

    def _finish_add(self, node: Node, s: str, qp: QuantParams) -> _Val:
        z = int(qp.zero_point)
        lo, hi = qp.qmin - z, qp.qmax - z
        fmt = int_format(lo, hi, AP_ROUNDING[self.rounding(node)], "SAT")
        if self.rounding(node) == "ceil":
            raise ModelError(f"add {node.name!r}: ceil rounding after an add is not supported")
        name = self.emit(f"{node.name}_clip", "clip", [s], {"min_value": float(lo), "max_value": float(hi)},
                         formats={"result": fmt}, qparams=qp)
        return _Val(name, "q", qp)

    def op_output(self, node: Node, v: _Val) -> _Val:
        qp = v.qp
        if v.kind == "acc":
            if v.lo is not None or v.hi is not None:
                raise ModelError(f"output {node.name!r}: a clamped float intermediate is not quantized")
            fmt = self.out.node(v.name).formats["result"]
            scale = v.sx * v.sw * (v.post if v.post is not None else 1.0) * fmt.lsb
            qp = QuantParams(scale[0] if np.all(scale == scale[0]) else tuple(scale), 0, fmt.width,
                             True, axis=None if np.all(scale == scale[0]) else -1)
        name = self.emit(node.name, "output", [v.name], {"encoding": "affine"} if qp is not None else {},
                         qparams=qp)
        return _Val(name, "q", qp)

    # ------------------------------------------------------------------ driver
    def run(self) -> Graph:
        self.src.validate()
        for node in self.src.nodes():
            self.current = node.name
            ins = [self.vals[s] for s in node.inputs]
            op = node.op
            how = _lowering(op)
            if how is None:
                raise ModelError(f"node {node.name!r}: op {op!r} has no integer lowering of its "
                                 f"affine quantization; supported: {', '.join(SUPPORTED)}")
            if how == "op_bound":
                v = self.op_bound(node, ins[0], *get(op, node.name).limits(node))
            else:
                v = getattr(self, how)(node, *ins)
            if how == "op_mac" and node.qparams is not None:
                v = self.requantize(node, v, node.qparams)
            self.vals[node.name] = v
        g = prepare(self.out)
        g.notes = self.notes + list(g.notes)
        return g


def _round_half_even(x) -> int:
    """A Fraction rounded to the nearest integer, ties to even."""
    import math as _m

    f = _m.floor(x)
    d = x - f
    return int(f + (1 if d > 0.5 or d == 0.5 and f % 2 else 0))


def _requantizer_for(sums: np.ndarray, target: np.ndarray, lo: int, hi: int,
                     max_shift: int = 40) -> tuple[int, int] | None:
    """(M, n) with clamp(round(S * M * 2**-n), lo, hi) == target for every S, no S at a rounding
    tie (so any rounding mode agrees), or None. Each S != 0 allows the open interval of m with
    S * m within half an LSB of its target (one-sided at a clamped target); the dyadic point with
    the fewest fraction bits strictly inside their intersection is taken."""
    from fractions import Fraction

    low, high = Fraction(0), None
    for k, t in zip(sums.tolist(), target.tolist()):
        if k == 0:
            if t != 0:
                return None
            continue
        a = None if t <= lo else Fraction(2 * t - 1, 2 * k)
        b = None if t >= hi else Fraction(2 * t + 1, 2 * k)
        if k < 0:
            a, b = b, a
        if a is not None:
            low = max(low, a)
        if b is not None:
            high = b if high is None else min(high, b)
    if high is not None and low >= high:
        return None
    for n in range(max_shift + 1):
        M = int(low * (1 << n)) + 1  # the smallest multiple of 2**-n above low
        if high is None or Fraction(M, 1 << n) < high:
            return M, n
    return None


def _tighter(a, b, pick):
    return b if a is None else a if b is None else pick(a, b)


def _mlist(m: np.ndarray):
    m = np.atleast_1d(m)
    return int(m[0]) if m.size == 1 else [int(v) for v in m]


def _round_scalar(x: float, rounding: str) -> int:
    from qhw.quant.affine import round_values

    if rounding == "half_zero":  # ties toward zero, exactly (ceil(|x| - 0.5) is off for odd |x| >= 2**52)
        from qhw.fixed.convert import round_float

        return int(round_float(np.array(x, np.float64), "RND_ZERO"))
    return int(round_values(np.array(x, np.float64), rounding))


def lower_affine(model: AffineGraph, trace: dict[str, list[str]] | None = None) -> Graph:
    """The integer graph of an affine-quantized one (prepared: shapes and formats inferred);
    ``graph.notes`` lists anything not exact. ModelError names the node that cannot be lowered.
    ``trace`` (optional) receives source node -> the lowered nodes it became."""
    low = _Lowering(model)
    g = low.run()
    if trace is not None:
        trace.update(low.made)
    return g


# ---------------------------------------------------------------------- boundary conversions
def quantize_inputs(graph: Graph, x, name: str | None = None) -> np.ndarray:
    """Zero-point-free input codes d = q - z for float32 values, as onnxruntime's QuantizeLinear:
    x / s in float32, rounded half to even, clamped to [qmin - z, qmax - z]."""
    node = graph.node(name or graph.input_names[0])
    qp = node.qparams
    if qp is None:
        raise ModelError(f"input {node.name!r} has no QuantParams")
    z = int(qp.zero_point)
    y = np.asarray(x, np.float32) / np.float32(qp.scale)
    return np.rint(np.clip(y, qp.qmin - z, qp.qmax - z)).astype(np.int64)


def dequantize_outputs(graph: Graph, raw, name: str | None = None) -> np.ndarray:
    """float32 real values s * d of an output's zero-point-free codes (DequantizeLinear)."""
    node = graph.node(name or graph.output_names[0])
    qp = node.qparams
    if qp is None:
        raise ModelError(f"output {node.name!r} has no QuantParams")
    s = np.asarray(qp.scale, np.float32)
    return np.asarray(raw).astype(np.float32) * s


def output_codes(graph: Graph, raw, name: str | None = None) -> np.ndarray:
    """The codes q = d + z of an output, as onnxruntime's quantized tensors hold them."""
    node = graph.node(name or graph.output_names[0])
    return np.asarray(raw, np.int64) + np.asarray(node.qparams.zero_point, np.int64)


def ort_requantize_reference(acc, sx: float, sw, sy: float, zy: int, qmin: int, qmax: int) -> np.ndarray:
    """onnxruntime's float requantization of int32 accumulators (MlasRequantizeOutput):
    clamp(rint(fl32(fl32(acc) * fl32(fl32(sx * sw) / sy))), qmin - zy, qmax - zy) + zy."""
    m = (np.float32(sx) * np.asarray(sw, np.float32)) / np.float32(sy)
    y = np.asarray(acc).astype(np.float32) * m
    return (np.rint(np.clip(y, np.float32(qmin - zy), np.float32(qmax - zy))) + zy).astype(np.int64)


__all__ = ["AffineGraph", "lower_affine", "int_format", "code_format", "quantize_inputs",
           "dequantize_outputs", "output_codes", "ort_requantize_reference", "AP_ROUNDING",
           "MULTIPLIER_MODES", "SUPPORTED"]
