"""Import QONNX models (Brevitas exports: ``Quant``, ``BipolarQuant``, ``Trunc``) as integer
qhw graphs.

A QONNX graph is a float graph with quantizers on tensors. ``Quant`` (IntQuant: scale, integer
zero point, bit width, signed, narrow, rounding ROUND/HALF_EVEN, FLOOR, CEIL, DOWN, HALF_UP,
HALF_DOWN) on a constant quantizes weights (per tensor or per output channel); on an activation
it becomes the tensor's QuantParams. ``BipolarQuant`` quantizes constants to +-scale. ``Trunc``
(v1 and v2, zero point 0) drops low bits of a quantized tensor. Between quantizers: Conv, Gemm,
MatMul, constant Add (a bias) and Mul (a per-channel scale), BatchNormalization after a MAC
(folded into its requantization, not its weights), Relu, Clip, MaxPool, Flatten, Reshape, Add,
nearest Resize/Upsample by integer factors, DepthToSpace. A Relu on the float model input read only by an
unsigned zero-point-0 Quant is absorbed into that Quant (it clamps at 0 itself).

The affine graph is lowered by :func:`qhw.passes.lower_affine.lower_affine` with float64
multipliers: exact for power-of-two scales; otherwise the 31-bit multiplier can move a result
that lies within ~2**-31 relative of a rounding tie (qonnx itself computes in float32).
``MultiThreshold`` and ``BipolarQuant`` of an activation become qhw's ``threshold`` op, with each
threshold turned into the input code where qonnx's float32 comparison first holds. Not mapped
(ModelError naming the node): FloatQuant, a bias that is no short binary fraction of the
accumulator LSB unless ``exact=False``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qhw.errors import ModelError
from qhw.frontends.onnx_float import _Tensor
from qhw.frontends.onnx_qdq import _QdqImporter, read_onnx
from qhw.frontends.report import MappingReport, deliver, in_output_lsbs
from qhw.graph import Graph
from qhw.passes.lower_affine import AffineGraph, lower_affine
from qhw.quant import QuantParams

QONNX_OPS = ("Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold", "FloatQuant")
QONNX_DOMAINS = ("qonnx", "onnx.brevitas", "finn")
SUPPORTED = ("Quant", "IntQuant", "BipolarQuant", "MultiThreshold", "Trunc", "Conv", "Gemm", "MatMul",
             "Add", "Mul", "BatchNormalization", "Relu", "Clip", "MaxPool", "Flatten", "Reshape",
             "Resize", "Upsample", "DepthToSpace", "Identity", "Dropout", "Transpose (of a constant)",
             "Sub (of a constant)", "Div (by a constant)")
#: merges of quantized tensors (each requantized to the Quant after it in integer arithmetic)
SUPPORTED += ("Concat", "Mul (of two quantized tensors)")
#: averages between quantizers: the exact window sum, then qonnx's own output code of every sum
SUPPORTED += ("AveragePool (between Quant nodes)", "GlobalAveragePool (between Quant nodes)")
#: constant arithmetic between two Quant nodes: a code table computed by qonnx
SUPPORTED += ("Mul/Add/Sub/Div (by a constant, between Quant nodes)",)
#: data movement of quantized tensors (qhw.frontends.onnx_qdq: transpose, pad)
SUPPORTED += ("Transpose (of a quantized tensor)", "Pad (of a quantized tensor)")
#: QONNX rounding_mode -> qhw.quant rounding names
ROUNDING = {"ROUND": "half_even", "HALF_EVEN": "half_even", "FLOOR": "floor", "CEIL": "ceil",
            "DOWN": "trunc", "HALF_UP": "half_away", "HALF_DOWN": "half_zero"}


def _round(y: np.ndarray, mode: str) -> np.ndarray:
    """QONNX's rounding functions (qonnx.custom_op.general.quant.resolve_rounding_mode)."""
    if mode in ("ROUND", "HALF_EVEN"):
        return np.round(y)
    if mode == "CEIL":
        return np.ceil(y)
    if mode == "FLOOR":
        return np.floor(y)
    if mode == "DOWN":
        return np.fix(y)
    if mode == "UP":
        return np.sign(y) * np.ceil(np.abs(y))
    if mode == "HALF_UP":
        return np.sign(y) * np.floor(np.abs(y) + 0.5)
    if mode == "HALF_DOWN":
        return np.sign(y) * np.ceil(np.abs(y) - 0.5)
    raise ValueError(mode)


class _QonnxImporter(_QdqImporter):
    def __init__(self, model, exact: bool) -> None:
        super().__init__(model)
        self.exact = exact
        self.rounding: dict[str, str] = {}
        self.post_scale: dict[str, np.ndarray] = {}
        #: Trunc outputs already computed by the average before them (Brevitas' TruncAvgPool)
        self.truncated: set[str] = set()

    supported = SUPPORTED + ("FloatQuant (rejected)",)
    what = "a QONNX model"

    # ------------------------------------------------------------------ helpers
    def scalar(self, node, i: int, what: str) -> float:
        v = self.const(node, node.input[i])
        if v.size != 1:
            raise ModelError(f"QONNX node {node.name!r} ({node.op_type}): {what} must be a scalar, got shape {v.shape}")
        return float(v.ravel()[0])

    def mode(self, node) -> str:
        m = self.attr(node, "rounding_mode", b"ROUND")
        m = (m.decode() if isinstance(m, bytes) else m).upper()
        if m not in ROUNDING and m != "UP":
            raise ModelError(f"QONNX node {node.name!r}: unknown rounding_mode {m!r}; valid: "
                             f"{', '.join(list(ROUNDING) + ['UP'])}")
        return m

    def int_params(self, node, scale: np.ndarray, zp: np.ndarray, bits: float, signed: bool,
                   narrow: bool, shape: tuple[int, ...]) -> tuple[QuantParams, int | None]:
        if bits != int(bits) or not 1 <= bits <= 32:
            raise ModelError(f"QONNX node {node.name!r}: bit width {bits} is not an integer in 1..32")
        if np.any(zp != np.rint(zp)):
            raise ModelError(f"QONNX node {node.name!r}: zero point {zp.ravel()[:4]} is not an integer; "
                             "qhw maps integer zero points exactly only")
        axis = None
        if scale.size > 1 or zp.size > 1:
            big = [i for i, d in enumerate(scale.shape if scale.size > 1 else zp.shape) if d > 1]
            nd = scale.ndim if scale.size > 1 else zp.ndim
            if len(big) != 1:
                raise ModelError(f"QONNX node {node.name!r}: scale of shape {scale.shape} is not per "
                                 "tensor or per channel")
            axis = big[0] + len(shape) - nd
            n = shape[axis]
            scale = np.broadcast_to(scale.ravel(), (n,)) if scale.size > 1 else np.full(n, float(scale.ravel()[0]))
            zp = np.broadcast_to(zp.ravel(), (n,)) if zp.size > 1 else np.full(n, zp.ravel()[0])
        try:
            if axis is None:
                return QuantParams(float(scale.ravel()[0]), int(zp.ravel()[0]), int(bits), signed, narrow), None
            return QuantParams(tuple(scale), tuple(int(z) for z in zp), int(bits), signed, narrow, axis=-1), axis
        except ValueError as exc:
            raise ModelError(f"QONNX node {node.name!r}: bad quantization parameters: {exc}") from None

    # ------------------------------------------------------------------ quantizers
    def op_Quant(self, node):
        x = node.input[0]
        scale = np.asarray(self.const(node, node.input[1]), np.float64)
        zp = np.asarray(self.const(node, node.input[2]), np.float64)
        bits = self.scalar(node, 3, "bit width")
        signed, narrow = bool(self.attr(node, "signed", 1)), bool(self.attr(node, "narrow", 0))
        mode = self.mode(node)
        if x in self.consts:  # weights: codes as qonnx computes them (float32)
            w = self.consts[x].astype(np.float32)
            qp, axis = self.int_params(node, scale, zp, bits, signed, narrow, w.shape)
            y = w / scale.astype(np.float32) + zp.astype(np.float32)
            y = np.clip(y, qp.qmin, qp.qmax)
            q = _round(y, mode)
            self.consts[node.output[0]] = (q.astype(np.float64) - zp) * scale
            self.const_qp[node.output[0]] = (qp, axis)
            self.qreport.add(node.name, node.op_type, None, "weights quantized")
            return
        if mode == "UP":
            raise ModelError(f"QONNX node {node.name!r}: rounding_mode UP (away from zero) has no "
                             "integer rounding mode in qhw; valid here: " + ", ".join(ROUNDING))
        if scale.size > 1 or zp.size > 1:
            raise ModelError(f"QONNX node {node.name!r}: per-channel quantization of an activation "
                             "cannot be lowered; activations must be quantized per tensor")
        qp, _ = self.int_params(node, scale, zp, bits, signed, narrow, ())
        t = self.tensor(node, x)
        t2 = self.set_qparams(node, t, qp, self.consumers.get(x, 0) == 1)
        self.rounding[t2.name] = ROUNDING[mode]
        self.vals[node.output[0]] = t2
        self.qreport.add(node.name, node.op_type, t2.name,
                         "requantize" if t2.name != t.name else f"qparams of {t.name}")

    op_IntQuant = op_Quant

    def op_BipolarQuant(self, node):
        x = node.input[0]
        scale = np.asarray(self.const(node, node.input[1]), np.float64)
        if x not in self.consts:  # an activation: sign(x) * scale, a threshold at 0
            if scale.size != 1 or not float(scale.ravel()[0]) > 0:
                raise ModelError(f"QONNX node {node.name!r}: BipolarQuant of an activation needs one "
                                 f"positive scale, got {scale.ravel().tolist()}")
            s = float(scale.ravel()[0])
            t = self.tensor(node, x)
            src = self.b.graph.node(t.name)
            if src.op == "input" and src.qparams is None and self.consumers.get(x, 0) == 1:
                # a model input binarized (FINN's 1-bit TFC input): codes +-1 of scale s
                src.qparams = QuantParams(s, 0, 2, True, True)
                src.attrs["quantizer"] = "bipolar"
                self.vals[node.output[0]] = t
                self.qreport.add(node.name, node.op_type, t.name, "input quantizer (bipolar codes +-1)")
                return
            self._threshold(node, t, np.zeros((1, 1)), 2 * s, -s, "sign")
            return
        w = self.consts[x]
        qp, axis = self.int_params(node, scale, np.zeros(1), 2, True, True, w.shape)
        self.consts[node.output[0]] = np.where(w >= 0, 1.0, -1.0) * scale
        self.const_qp[node.output[0]] = (qp, axis)
        self.qreport.add(node.name, node.op_type, None, "weights binarized")

    def op_Trunc(self, node):
        t = self.tensor(node, node.input[0])
        if node.output[0] in self.truncated:  # the average before it computed its codes
            self.vals[node.output[0]] = t
            self.qreport.add(node.name, node.op_type, t.name, "the truncation of the average before it")
            return
        src = self.b.graph.node(t.name)
        if src.qparams is None:
            raise ModelError(f"QONNX node {node.name!r}: Trunc of {node.input[0]!r}, which is not quantized")
        scale, zp = self.scalar(node, 1, "scale"), self.scalar(node, 2, "zero point")
        if zp != 0:
            raise ModelError(f"QONNX node {node.name!r}: Trunc with a non-zero zero point is not supported")
        if scale != src.qparams.scale:
            raise ModelError(f"QONNX node {node.name!r}: Trunc scale {scale} differs from its input's "
                             f"{src.qparams.scale}")
        mode = self.mode(node)
        if mode == "UP":
            raise ModelError(f"QONNX node {node.name!r}: rounding_mode UP has no integer rounding mode in qhw")
        signed = bool(self.attr(node, "signed", 1 if src.qparams.signed else 0))
        narrow = bool(self.attr(node, "narrow", 0))
        if len(node.input) >= 6:  # v2: input bits, output scale, output bits
            out_scale, out_bits = self.scalar(node, 4, "output scale"), self.scalar(node, 5, "output bit width")
            k = int(np.round(np.log2(out_scale / scale)))
            relabel = out_scale / (scale * 2.0**k)
        else:  # v1: shift by in_bits - out_bits, result still scaled by `scale`
            in_bits, out_bits = self.scalar(node, 3, "input bit width"), self.scalar(node, 4, "output bit width")
            k = int(in_bits - out_bits)
            relabel = 2.0**-k
            signed, narrow = src.qparams.signed, False
            out_bits = 32  # v1 does not clamp
        qp = QuantParams(scale * 2.0**k, 0, int(out_bits), signed, narrow)
        t2 = self.set_qparams(node, t, qp, False)
        self.rounding[t2.name] = ROUNDING[mode]
        if relabel != 1.0:
            t2 = self.relabel(node, t2, relabel)
        self._set(node, t2, "trunc")

    def relabel(self, node, t: _Tensor, factor: float) -> _Tensor:
        """The same codes read as ``factor`` (a power of two) times their value: a shift."""
        k = np.log2(factor)
        if factor <= 0 or k != np.rint(k):
            raise ModelError(f"ONNX node {node.name!r}: rescaling a quantized tensor by {factor} "
                             "is exact only for powers of two")
        name = self.b.shift(self.name_for(node, "_scale"), t.name, int(k))
        return _Tensor(name, t.channels_last, t.perm)

    def op_Relu(self, node):
        """A Relu on a float model input read only by an unsigned, zero-point-0 Quant is that
        Quant's own clamp at 0 (round is monotone and rounds 0 to 0): absorbed, so the input is
        quantized directly (qonnx's ESPCN exports start this way)."""
        t = self.tensor(node, node.input[0])
        src = self.b.graph.node(t.name)
        readers = [n for n in self.g.node if node.output[0] in n.input]
        if src.op == "input" and src.qparams is None and len(readers) == 1 \
                and readers[0].op_type in ("Quant", "IntQuant") and readers[0].input[0] == node.output[0] \
                and not self.attr(readers[0], "signed", 1):
            zp = np.asarray(self.const(readers[0], readers[0].input[2]), np.float64)
            if zp.size == 1 and float(zp.ravel()[0]) == 0.0:
                self.vals[node.output[0]] = t
                self.qreport.add(node.name, node.op_type, None,
                                 f"absorbed into {readers[0].name} (an unsigned quantizer clamps at 0)")
                return
        super().op_Relu(node)

    def _threshold(self, node, t: _Tensor, thr: np.ndarray, out_scale: float, out_bias: float,
                   what: str) -> None:
        if t.perm is not None and thr.shape[0] > 1:  # a flattened tensor: rows in qhw's order
            thr = thr[t.perm]
        name = self.b.node(self.name_for(node), "threshold", [t.name],
                           {"out_scale": float(out_scale), "out_bias": float(out_bias)},
                           {"thresholds": np.asarray(thr, np.float64)})
        self._set(node, _Tensor(name, t.channels_last, t.perm), what)

    def op_MultiThreshold(self, node):
        """y = out_bias + out_scale * #{t : x >= thresholds[c, t]}, channels on axis 1 (NC, NCW,
        NCHW; a rank-3 input needs data_layout NCW, as qonnx reads rank 3 as NWC otherwise)."""
        t = self.tensor(node, node.input[0])
        thr = np.asarray(self.const(node, node.input[1]), np.float64)
        if thr.ndim != 2:
            raise ModelError(f"QONNX node {node.name!r}: thresholds must be (channels, steps), got {thr.shape}")
        layout = self.attr(node, "data_layout", b"")
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        if layout and layout.find("C") != 1 or not layout and rank == 3:
            raise ModelError(f"QONNX node {node.name!r}: MultiThreshold with data_layout "
                             f"{layout or 'NWC (qonnx default for rank 3)'!r}; qhw maps channels on "
                             "axis 1 (NC, NCW, NCHW)")
        self._threshold(node, t, thr, self.attr(node, "out_scale", 1.0), self.attr(node, "out_bias", 0.0),
                        "threshold")

    def op_FloatQuant(self, node):
        raise ModelError(f"QONNX node {node.name!r}: FloatQuant (minifloat) is not an integer "
                         "quantization; qhw maps IntQuant, BipolarQuant and Trunc")

    # ------------------------------------------------------------------ float ops between quantizers
    # (constant Add/Sub/Mul/Div and BatchNormalization after a MAC: qhw.frontends.onnx_qdq)
    def op_Mul(self, node):
        """After a MAC: its output scale; by a constant between two Quant nodes: a code table
        (:meth:`const_between`; qonnx rounds the float32 product, so even a power of two is not
        a plain shift there: float32 noise moves its ties); elsewhere on a quantized tensor, by
        a positive power of two: the same codes, relabelled (a shift)."""
        if self._chained(node):
            return
        a, b = node.input
        if not (a in self.consts or b in self.consts):  # two quantized tensors: d_a * d_b, requantized
            ta, tb = self.tensor(node, a), self.tensor(node, b)
            self._set(node, _Tensor(self.b.mul(self.name_for(node), ta.name, tb.name), ta.channels_last, ta.perm),
                      "mul")
            return
        x, c = (b, a) if a in self.consts else (a, b)
        t, prev = self.mac_before(node, x)
        if prev is not None:
            return super().op_Mul(node)
        qp = self.b.graph.node(t.name).qparams
        k = np.asarray(self.consts[c], np.float64)
        if self.const_between(node, x, c):  # before a Quant: its float32 rounding, as qonnx's
            return
        if qp is not None and k.size == 1 and float(k.ravel()[0]) > 0 \
                and float(np.log2(float(k.ravel()[0]))).is_integer():
            t2 = self.relabel(node, t, float(k.ravel()[0]))
            self._set(node, t2, "scale")
            return
        raise ModelError(f"ONNX node {node.name!r}: Mul by a constant is supported after a "
                         "Conv/Gemm/MatMul, by a positive power of two on a quantized tensor, between "
                         "two Quant nodes (a code table), or after the last quantizer (on the host)")

    def _quant_chain(self, node):
        """The constant Add/Sub/Mul/Div ops after ``node`` (each read only by the next) up to the
        one Quant that reads the last of them: (chain, Quant), or ([], None)."""
        chain, cur = [], node
        outputs = {o.name for o in self.g.output}
        while True:
            readers = self.readers.get(cur.output[0], [])
            if len(readers) != 1 or cur.output[0] in outputs:
                return [], None
            r = readers[0]
            if r.op_type in ("Quant", "IntQuant") and r.input[0] == cur.output[0]:
                return chain, r
            if r.op_type not in ("Add", "Sub", "Mul", "Div") or len(r.input) != 2 \
                    or sum(self._is_const(i) for i in r.input) != 1:
                return [], None
            chain.append(r)
            cur = r

    def const_between(self, node, x: str, c: str | None) -> bool:
        """Quant -> Mul/Add/Sub/Div by a constant (a chain of them) -> Quant (Brevitas scales a
        quantized tensor so): one table of output codes per input code (one row per channel for
        a per-channel constant), computed by qonnx's own execution (execute_onnx: the dequantized
        value in float32, onnxruntime's float32 op, the Quant's float32 division and rounding);
        False when the op is not between two Quant nodes."""
        src = self.producer.get(x)
        chain, q = self._quant_chain(node)
        if src is None or src.op_type not in ("Quant", "IntQuant", "Trunc") or q is None or x not in self.vals:
            return False
        t = self.tensor(node, x)
        qp_in = self.b.graph.node(t.name).qparams
        if qp_in is None or not qp_in.is_per_tensor:
            return False
        _, qp_out = self._quant_after(chain[-1] if chain else node)
        from qhw import limits

        codes = np.arange(qp_in.qmin, qp_in.qmax + 1)
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        channels = int(shape[-1])
        limits.check("table_entries", codes.size * channels, f"code table of {node.name!r}")
        ops = [node] + chain
        consts = [n for op in ops for i in op.input if i != x and self._is_const(i) for n in self._const_nodes(i)]
        const_nodes = [n for n in self.g.node if n.op_type == "Constant"
                       and n.output[0] in {i for op in ops + consts for i in op.input}]
        feed_shape = (codes.size, channels) + (1,) * (rank - 2) if t.channels_last or rank == 2 else None
        if feed_shape is None or t.perm is not None:
            raise ModelError(f"QONNX node {node.name!r}: {node.op_type} by a constant between Quant nodes "
                             "is mapped on a (batch, features) tensor or a feature map (batch, C, ...); "
                             "this one is laid out otherwise in qhw")
        x_codes = np.broadcast_to(codes.reshape((-1,) + (1,) * (rank - 1)), feed_shape)
        nodes = const_nodes + [n for n in self.g.node if any(n is m for m in consts + ops)] + [q]
        try:
            out = self._ort_run(nodes, x, q.output[0], np.ascontiguousarray(x_codes), np.int64)
        except ModelError:
            raise
        out = np.asarray(out).reshape((codes.size, -1))
        if out.shape[1] != channels:
            raise ModelError(f"QONNX node {node.name!r}: {node.op_type} by a constant between Quant nodes "
                             f"gives {out.shape[1]} values per code for {channels} channels; qhw maps a "
                             "scalar or one value per channel as code tables")
        table = out[:, 0].copy() if np.all(out == out[:, :1]) else out.T.copy()
        name = self.b.node(self.name_for(node), "code_table", [t.name], params={"table": table})
        self.b.graph.node(name).qparams = qp_out
        self.chained.update(id(n) for n in chain)
        for n in chain:
            self.qreport.add(n.name, n.op_type, None, f"in the code table of {node.name!r}")
        per = f"{table.shape[0]} channels x " if table.ndim == 2 else ""
        self._set(ops[-1], _Tensor(name, t.channels_last, t.perm),
                  f"code_table ({per}{table.shape[-1]} codes, computed by {self.runtime})")
        return True

    def op_Concat(self, node):
        """Concat of quantized tensors: their codes side by side, each input requantized in integer
        arithmetic to the Quant after the Concat (qhw.passes.lower_affine, noted)."""
        ts = [self.tensor(node, i) for i in node.input]
        name = self.b.concat(self.name_for(node), [t.name for t in ts], self._concat_axis(node, ts))
        self._set(node, _Tensor(name, ts[0].channels_last, None), "concat")

    def _pad_code(self, node, t: _Tensor, qp: QuantParams, value: float, value_name: str):
        """A constant Pad read by one Quant of the input's own parameters: the code that Quant
        gives the constant, as qonnx computes it (float32 v / scale + zero point, clipped,
        rounded by its rounding mode); otherwise the value must be a code exactly."""
        readers = self.readers.get(node.output[0], [])
        if len(readers) == 1 and readers[0].op_type in ("Quant", "IntQuant") and readers[0].input[0] == node.output[0]:
            q, qp_out = self._quant_after(node)
            if qp_out == qp:
                s, z = np.float32(qp.scale), np.float32(qp.zero_point)
                y = np.clip(np.float32(value) / s + z, qp.qmin, qp.qmax)
                return t, int(_round(np.asarray([y], np.float32), self.mode(q))[0]) - int(qp.zero_point)
        return super()._pad_code(node, t, qp, value, value_name)

    # ------------------------------------------------------------------ averages (issue 17.4)
    runtime = "qonnx (execute_onnx)"

    def _quant_after(self, node):
        readers = self.readers.get(node.output[0], [])
        if len(readers) != 1 or readers[0].op_type not in ("Quant", "IntQuant") \
                or readers[0].input[0] != node.output[0]:
            raise ModelError(f"QONNX node {node.name!r}: {node.op_type} is mapped when one Quant reads "
                             "its output (the average's codes as qonnx computes them); this one is not")
        q = readers[0]
        scale = np.asarray(self.const(q, q.input[1]), np.float64)
        zp = np.asarray(self.const(q, q.input[2]), np.float64)
        if scale.size > 1 or zp.size > 1:
            raise ModelError(f"QONNX node {q.name!r}: per-channel quantization of an average")
        qp, _ = self.int_params(q, scale, zp, self.scalar(q, 3, "bit width"), bool(self.attr(q, "signed", 1)),
                                bool(self.attr(q, "narrow", 0)), ())
        return q, qp

    def _trunc_after(self, node):
        """AveragePool -> Trunc (v2: x, scale, zero point, input bits, output scale, output bits),
        Brevitas' TruncAvgPool export: the Trunc and its output codes' quantization, or None when
        no such Trunc alone reads the average."""
        readers = self.readers.get(node.output[0], [])
        if len(readers) != 1 or readers[0].op_type != "Trunc" or readers[0].input[0] != node.output[0]:
            return None
        tr = readers[0]
        if len(tr.input) < 6:
            raise ModelError(f"QONNX node {tr.name!r}: a Trunc after an average needs the v2 inputs "
                             "(x, scale, zero point, input bits, output scale, output bits)")
        if self.scalar(tr, 2, "zero point") != 0:
            raise ModelError(f"QONNX node {tr.name!r}: Trunc with a non-zero zero point is not supported")
        if self.mode(tr) == "UP":
            raise ModelError(f"QONNX node {tr.name!r}: rounding_mode UP has no integer rounding mode in qhw")
        qp, _ = self.int_params(tr, np.asarray(self.scalar(tr, 4, "output scale")), np.zeros(1),
                                self.scalar(tr, 5, "output bit width"), bool(self.attr(tr, "signed", 1)),
                                bool(self.attr(tr, "narrow", 0)), ())
        self.truncated.add(tr.output[0])
        return tr, qp

    def op_AveragePool(self, node):
        """Quant -> AveragePool -> Quant: the exact window sum, then the code qonnx gives that sum
        (qonnx runs the pool in float32 through onnxruntime and rounds in its Quant). Quant ->
        AveragePool -> Trunc (Brevitas' TruncAvgPool): the same, with the code qonnx's Trunc gives
        each window sum (its rounding of the sum over a power-of-two divisor)."""
        q, qp_out = self._trunc_after(node) or self._quant_after(node)
        t = self.tensor(node, node.input[0])
        dims = len(self.attr(node, "kernel_shape"))
        attrs = self._window_attrs(node, dims)
        if self._covers_image(t, attrs):
            self._average(node, t, attrs, [node, q], node.input[0], q.output[0], qp_out, True, "a global average")
        else:
            self._average(node, t, attrs, [self._probe_window(node, attrs["kernel_size"]), q], node.input[0],
                          q.output[0], qp_out, False, "window average")

    def op_GlobalAveragePool(self, node):
        q, qp_out = self._trunc_after(node) or self._quant_after(node)
        t = self.tensor(node, node.input[0])
        self._average(node, t, self._global(node, t), [node, q], node.input[0], q.output[0], qp_out, True,
                      "global average")

    def _float32_posts(self, nodes, qp_out: QuantParams, taps: int) -> list:
        """What qonnx does after the float32 window sum s: onnxruntime's AveragePool divides by
        N in float32, then the Quant after it computes s / scale + zero point in float32, clips
        and rounds (qonnx.custom_op.general.quant.int_quant, its rounding mode)."""
        f32 = np.float32
        q = nodes[-1]
        n, ys, z = f32(taps), f32(qp_out.scale), f32(qp_out.zero_point)
        mode = self.mode(q)
        lo, hi = f32(qp_out.qmin), f32(qp_out.qmax)

        def post(s):
            v = (((s / n).astype(f32) / ys).astype(f32) + z).astype(f32)
            v = np.where(v > hi, hi, np.where(v < lo, lo, v))
            return _round(v, mode).astype(np.int64)

        return [post]

    def _ort_run(self, nodes, in_name: str, out_name: str, x: np.ndarray, out_dtype) -> np.ndarray:
        """qonnx's own execution (execute_onnx) of ``nodes`` fed the codes ``x`` through a Quant
        of the input's parameters; the last node is the Quant after the average, whose real
        outputs are read back as codes."""
        from onnx import TensorProto, helper, numpy_helper

        try:
            from qonnx.core.modelwrapper import ModelWrapper
            from qonnx.core.onnx_exec import execute_onnx
            from qonnx.transformation.infer_shapes import InferShapes
        except ImportError:
            raise ModelError("an average in a QONNX model is computed by qonnx: pip install qonnx") from None
        src = self.b.graph.node(self.tensor(nodes[0], in_name).name).qparams
        q_out = nodes[-1]
        if q_out.op_type == "Trunc":  # codes of its output scale (zero point 0, checked)
            sy, zy = float(np.asarray(self.const(q_out, q_out.input[4])).ravel()[0]), 0
        else:
            sy = float(np.asarray(self.const(q_out, q_out.input[1])).ravel()[0])
            zy = int(np.asarray(self.const(q_out, q_out.input[2])).ravel()[0])
        consts = {"probe_s": src.scale, "probe_z": src.zero_point, "probe_b": src.bits}
        quant_in = helper.make_node("Quant", ["probe_x", "probe_s", "probe_z", "probe_b"], [in_name], "probe_q",
                                    domain="qonnx.custom_op.general", signed=int(src.signed),
                                    narrow=int(src.narrow_range), rounding_mode="ROUND")
        names = {i for n in nodes for i in n.input if i} - {in_name}
        inits = [i for i in self.g.initializer if i.name in names] + \
            [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()]
        graph = helper.make_graph([quant_in, *nodes], "probe",
                                  [helper.make_tensor_value_info("probe_x", TensorProto.FLOAT, list(x.shape))],
                                  [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)], inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        real = ((np.asarray(x, np.int64) - int(src.zero_point)).astype(np.float32) *
                np.float32(src.scale)).astype(np.float32)
        try:
            mw = ModelWrapper(model).transform(InferShapes())
            y = np.asarray(execute_onnx(mw, {"probe_x": real})[out_name])
        except Exception as exc:  # qonnx and onnxruntime raise their own types
            raise ModelError(f"QONNX node {nodes[0].name!r}: qonnx could not run it on probe windows: "
                             f"{str(exc).splitlines()[0][:200]}") from None
        return np.rint(y.astype(np.float64) / sy).astype(np.int64) + zy


def is_qonnx(model) -> bool:
    """True when the model has QONNX quantizer nodes."""
    return any(n.op_type in QONNX_OPS and (not n.domain or n.domain.startswith(QONNX_DOMAINS))
               for n in model.graph.node)


def import_qonnx(source: str | Path | Any, *, exact: bool = True,
                 input_quant: dict[str, QuantParams] | None = None) -> tuple[Graph, MappingReport]:
    """The lowered integer graph of a QONNX model and its mapping report. exact=False rounds a
    bias that is no short binary fraction of the accumulator LSB (noted in the report).
    input_quant: ONNX input name -> QuantParams for inputs the model reads unquantized (e.g. an
    8-bit image as ``QuantParams(1/255, 0, 8, False)``): the caller's statement of what the data
    is, applied before the first layer."""
    from qhw.frontends import host

    model, prefixes, suffixes = host.split_host(read_onnx(source), ("Quant", "IntQuant", "BipolarQuant"),
                                                ("Quant", "IntQuant", "BipolarQuant", "Trunc"), shifts=True)
    imp = _QonnxImporter(model, exact)
    affine = imp.run()
    for name, qp in (input_quant or {}).items():
        t = imp.vals.get(name)
        if t is None or affine.node(t.name).op != "input":
            raise ModelError(f"input_quant names {name!r}, which is not an input of the model; "
                             f"inputs: {[i.name for i in model.graph.input if i.name not in imp.consts]}")
        node = affine.node(t.name)
        if node.qparams is not None and node.qparams != qp:
            raise ModelError(f"input {name!r} is already quantized by the model ({node.qparams})")
        node.qparams = qp
        imp.qreport.add(name, "input", t.name, f"quantized as given: {qp}")
    trace: dict[str, list[str]] = {}
    am = AffineGraph(affine, imp.weights, post_scale=imp.post_scale, rounding=imp.rounding,
                     multiplier="float64", exact=exact)
    graph = lower_affine(am, trace)
    imp.qreport.notes = in_output_lsbs(graph, [n for n in graph.notes if "narrower than lossless" not in n])
    imp.qreport.describe(graph, trace)
    host.finish(graph, prefixes, suffixes, imp.qreport, imp.vals)
    return graph, imp.qreport


def load_qonnx(source: str | Path | Any, *, exact: bool = True, config=None, default=None,
               report: MappingReport | None = None,
               input_quant: dict[str, QuantParams] | None = None) -> Graph:
    """:func:`import_qonnx` as a prepared graph."""
    graph, rep = import_qonnx(source, exact=exact, input_quant=input_quant)
    return deliver(graph, rep, report, config, default)


__all__ = ["import_qonnx", "load_qonnx", "is_qonnx", "SUPPORTED", "ROUNDING"]
