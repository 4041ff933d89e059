"""Import quantized ONNX models (QDQ and QOperator formats) as integer qhw graphs.

QDQ: QuantizeLinear/DequantizeLinear around float Gemm/MatMul/Conv/Add/Relu/Clip/MaxPool/
Flatten/Reshape, weights and biases as DequantizeLinear of integer initializers (per tensor or
per output channel, int8/uint8/int16/uint16, int32 biases). QOperator: QLinearConv,
QLinearMatMul, com.microsoft QGemm and QLinearAdd between QuantizeLinear and DequantizeLinear,
MaxPool/Flatten/Reshape on quantized tensors. Both are what ``onnxruntime.quantization.
quantize_static`` writes.

The importer builds an affine graph (float ops, QuantParams on tensors) and lowers it with
:func:`qhw.passes.lower_affine.lower_affine` in onnxruntime's requantization mode (float32
multiplier); the result computes on integer codes only. Anything it cannot map exactly raises a
ModelError naming the ONNX node.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qhw.errors import ModelError
from qhw.frontends.onnx_float import _Importer, _onnx, _Tensor
from qhw.frontends.report import MappingReport, deliver, in_output_lsbs
from qhw.graph import Graph
from qhw.names import check_onnx_names
from qhw.passes.lower_affine import AffineGraph, lower_affine
from qhw.quant import QuantParams

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
#: elementwise float ops that become a code table between DequantizeLinear and QuantizeLinear
TABLE_OPS = ("Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Exp", "Erf", "Gelu",
             "Softplus", "Softsign", "Elu", "Selu", "Celu", "Mish", "Abs", "Neg", "Sqrt", "Log",
             "Reciprocal", "Sin", "Cos", "ThresholdedRelu")
#: com.microsoft QLinear forms of elementwise functions (X, X_scale, X_zp, Y_scale, Y_zp)
QLINEAR_TABLE_OPS = ("QLinearSigmoid", "QLinearLeakyRelu")
QOPERATOR_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd") + QLINEAR_TABLE_OPS
#: com.microsoft merges of quantized tensors (QLinearConcat: one code table per input)
QOPERATOR_OPS += ("QLinearMul", "QLinearConcat", "QLinearSoftmax")
SUPPORTED = QDQ_OPS + QOPERATOR_OPS + ("Gemm", "MatMul", "Add", "Relu", "Clip", "Conv", "Flatten",
                                       "Reshape", "MaxPool", "Resize", "Upsample", "DepthToSpace",
                                       "Identity", "Dropout", "Transpose (of a constant)",
                                       "BatchNormalization (after a MAC)", "Mul (by a constant)",
                                       "Sub (of a constant)", "Div (by a constant)",
                                       "Mul (of two quantized tensors)",
                                       "Concat (of quantized tensors)",
                                       "Softmax (between DequantizeLinear and QuantizeLinear)") + tuple(
    f"{op} (between DequantizeLinear and QuantizeLinear)" for op in TABLE_OPS)

#: average pooling and data movement of quantized tensors (see _QdqImporter.op_AveragePool ...)
QLINEAR_POOL_OPS = ("QLinearAveragePool", "QLinearGlobalAveragePool")
QOPERATOR_OPS = QOPERATOR_OPS + QLINEAR_POOL_OPS
#: the share of outputs of random images on which a position-dependent average (one code per
#: divisor and window sum) may differ from the runtime (whose float32 sum order decides some
#: roundings) before it is refused
EDGE_AMBIGUOUS = 0.005
SUPPORTED = SUPPORTED + QLINEAR_POOL_OPS + ("AveragePool", "GlobalAveragePool",
                                            "ReduceMean (over the spatial axes)", "Transpose", "Pad",
                                            "Squeeze", "Unsqueeze")

_INT_TYPES = {"int8": (8, True), "uint8": (8, False), "int16": (16, True), "uint16": (16, False),
              "int32": (32, True), "int4": (4, True), "uint4": (4, False)}


def _int_kind(dtype) -> tuple[int, bool] | None:
    return _INT_TYPES.get(str(np.dtype(dtype)) if not hasattr(dtype, "name") else dtype.name)


class _QdqImporter(_Importer):
    """The float importer's structure (channels-last, flatten permutations, names) plus
    quantization: QuantParams on tensors, weight quantization per dense/conv node."""

    def __init__(self, model) -> None:
        super().__init__(model, "ap_int<8>")
        onnx = self.onnx
        from onnx import numpy_helper

        self.ints = {t.name: numpy_helper.to_array(t) for t in self.g.initializer}
        self.model_opsets = list(model.opset_import)
        self.model_ir = model.ir_version
        for node in self.g.node:
            if node.op_type == "Constant":
                self.ints[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.weights: dict[str, QuantParams] = {}
        #: dense/conv node -> its int32 bias codes (used as given, as onnxruntime does)
        self.bias_codes: dict[str, np.ndarray] = {}
        #: ONNX value name -> integer codes of a dequantized int32 constant (a bias)
        self.bias_ints: dict[str, np.ndarray] = {}
        #: ONNX value name -> qhw node whose codes it is (a QuantizeLinear's output), and the
        #: ones a Clip narrowed
        self.codes: dict[str, str] = {}
        self.clipped: set[str] = set()
        #: dense/conv node -> per-output-channel factor of folded Mul/Div/BatchNormalization
        self.post_scale: dict[str, np.ndarray] = {}
        #: ONNX value name -> QuantParams of a dequantized constant and its ONNX axis
        self.const_qp: dict[str, tuple[QuantParams, int | None]] = {}
        self.onnx = onnx
        self.qreport = MappingReport()
        self.producer = {o: n for n in self.g.node for o in n.output}
        #: add/mul node -> onnxruntime's output code per input code pair (AffineGraph.reference)
        self.reference: dict[str, np.ndarray] = {}
        #: float ops folded into the code table of the op before them (ids of ONNX nodes)
        self.chained: set[int] = set()
        self.readers: dict[str, list] = {}
        for n in self.g.node:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)

    # ------------------------------------------------------------------ run
    supported = SUPPORTED
    what = "a quantized ONNX model"

    def run(self) -> Graph:
        for node in self.g.node:
            if node.op_type != "Constant" and not hasattr(self, "op_" + node.op_type) \
                    or node.op_type not in [s.split()[0] for s in self.supported] + ["Constant"]:
                raise ModelError(f"ONNX node {node.name!r}: op {node.op_type!r} is not supported in "
                                 f"{self.what}; supported: {', '.join(self.supported)}")
        return super().run()

    def _set(self, node, t: _Tensor, qhw_op: str) -> None:
        self.vals[node.output[0]] = t
        self.qreport.add(node.name, node.op_type, t.name, qhw_op)

    # ------------------------------------------------------------------ quantization parameters
    def qparams(self, node, scale_name: str, zp_name: str | None, axis: int | None = None,
                default_kind: tuple[int, bool] = (8, False)) -> tuple[QuantParams, int | None]:
        """QuantParams (ONNX axis kept aside) from a scale and an optional zero-point input."""
        s = np.asarray(self.const(node, scale_name), np.float64)
        if zp_name:
            if zp_name not in self.ints:
                raise ModelError(f"ONNX node {node.name!r} ({node.op_type}): zero point {zp_name!r} "
                                 "must be a constant")
            zp = self.ints[zp_name]
            kind = _int_kind(zp.dtype)
            if kind is None:
                raise ModelError(f"ONNX node {node.name!r} ({node.op_type}): zero point type "
                                 f"{zp.dtype} is not an integer type qhw maps; valid: {', '.join(_INT_TYPES)}")
            z = zp.astype(np.int64)
        else:
            kind, z = default_kind, np.zeros(s.shape, np.int64)
        bits, signed = kind
        try:
            if s.size == 1:
                return QuantParams(float(s.ravel()[0]), int(z.ravel()[0]), bits, signed), None
            return QuantParams(tuple(s.ravel()), tuple(np.broadcast_to(z, s.shape).ravel()), bits, signed,
                               axis=-1), axis
        except ValueError as exc:
            raise ModelError(f"ONNX node {node.name!r} ({node.op_type}): bad quantization parameters: {exc}") from None

    def axis_attr(self, node, ndim: int) -> int:
        a = int(self.attr(node, "axis", 1))
        return a % ndim if ndim else 0

    def weight_qp(self, node, w_name: str, out_axis: int, ndim: int) -> QuantParams | None:
        """The weight's QuantParams with per-axis scales on the output channel (qhw's last axis)."""
        if w_name not in self.const_qp:
            return None
        qp, axis = self.const_qp[w_name]
        if not qp.is_per_tensor and axis % ndim != out_axis:
            raise ModelError(f"ONNX node {node.name!r}: weight {w_name!r} is quantized along axis {axis}, "
                             f"not its output-channel axis {out_axis}; qhw cannot fold such scales")
        return qp

    def set_qparams(self, node, t: _Tensor, qp: QuantParams, only_reader: bool) -> _Tensor:
        """Quantize tensor t with qp: on its own node when nothing else reads it in float, else
        through a requantizing node (a clip without bounds)."""
        target = self.b.graph.node(t.name)
        if target.qparams == qp:
            return t
        if target.qparams is None and (only_reader or target.op == "input"):
            target.qparams = qp
            return t
        name = self.b.node(self.name_for(node), "clip", [t.name], {"min_value": None, "max_value": None})
        self.b.graph.node(name).qparams = qp
        return _Tensor(name, t.channels_last, t.perm)

    # ------------------------------------------------------------------ QDQ
    def op_QuantizeLinear(self, node):
        x = node.input[0]
        rank = len(self.ints[x].shape) if x in self.ints else 0
        qp, axis = self.qparams(node, node.input[1], node.input[2] if len(node.input) > 2 else None,
                                self.axis_attr(node, max(rank, 1)))
        if x in self.consts:  # a float constant quantized in the graph
            q = qp.quantize(self.consts[x]) if qp.is_per_tensor else None
            if q is None:
                raise ModelError(f"ONNX node {node.name!r}: per-axis QuantizeLinear of a constant "
                                 "is not supported; store the weights quantized")
            self.ints[node.output[0]] = q.astype(np.int64)
            self.const_qp[node.output[0]] = (qp, None)
            self.qreport.add(node.name, node.op_type, None, "constant quantized")
            return
        if axis is not None:
            raise ModelError(f"ONNX node {node.name!r}: per-axis quantization of an activation "
                             "cannot be lowered; activations must be quantized per tensor")
        t = self.tensor(node, x)
        t2 = self.set_qparams(node, t, qp, self.consumers.get(x, 0) == 1)
        self.vals[node.output[0]] = t2
        self.codes[node.output[0]] = t2.name
        self.qreport.add(node.name, node.op_type, t2.name,
                         "requantize" if t2.name != t.name else f"qparams of {t.name}")

    def op_Clip(self, node):
        """A Clip of integer codes (Brevitas' QCDQ export: QuantizeLinear -> Clip -> Dequantize
        for fewer bits than the integer type): a narrower quantization of the same tensor, or
        clipped constant codes (weights). Any other Clip is the float importer's."""
        x = node.input[0]
        if x not in self.codes and not (x in self.ints and x not in self.vals):
            return super().op_Clip(node)
        bounds = []
        for i in (1, 2):
            name = node.input[i] if len(node.input) > i else ""
            v = np.asarray(self.ints.get(name, self.consts.get(name)) if name else np.nan, np.float64)
            if v.size != 1 or not np.isfinite(v.ravel()[0]) or v.ravel()[0] != np.rint(v.ravel()[0]):
                raise ModelError(f"ONNX node {node.name!r}: Clip of integer codes needs constant integer "
                                 f"bounds, got {name!r}")
            bounds.append(int(v.ravel()[0]))
        lo, hi = bounds
        if x not in self.vals:  # constant codes
            self.ints[node.output[0]] = np.clip(self.ints[x], lo, hi).astype(self.ints[x].dtype)
            self.qreport.add(node.name, node.op_type, None, f"constant codes clipped to [{lo}, {hi}]")
            return
        target = self.b.graph.node(self.codes[x])
        qp = target.qparams
        z = int(qp.zero_point)
        for bits in range(1, qp.bits + 1):
            for signed, narrow in ((True, False), (True, True), (False, False)):
                try:
                    cand = QuantParams(qp.scale, z, bits, signed, narrow)
                except ValueError:
                    continue
                if (cand.qmin, cand.qmax) == (lo, hi):
                    target.qparams = cand
                    self.vals[node.output[0]] = self.vals[x]
                    self.codes[node.output[0]] = target.name
                    self.clipped.add(node.output[0])
                    self.qreport.add(node.name, node.op_type, target.name,
                                     f"{bits}-bit {'signed' if signed else 'unsigned'}"
                                     f"{' narrow' if narrow else ''} codes of {target.name}")
                    return
        raise ModelError(f"ONNX node {node.name!r}: Clip of codes to [{lo}, {hi}] is not the range of "
                         f"a narrower integer type (zero point {z})")

    def op_DequantizeLinear(self, node):
        q = node.input[0]
        if q in self.ints and q not in self.vals:  # constant: weights, biases
            codes = np.asarray(self.ints[q])
            kind = _int_kind(codes.dtype) or (32, True)
            axis = self.axis_attr(node, max(codes.ndim, 1))
            qp, ax = self.qparams(node, node.input[1], node.input[2] if len(node.input) > 2 else None,
                                  axis, kind)
            shape = [1] * codes.ndim
            if ax is not None:
                shape[ax] = -1
            s = np.asarray(qp.scale, np.float64).reshape(shape or ())
            z = np.asarray(qp.zero_point, np.int64).reshape(shape or ())
            self.consts[node.output[0]] = (codes.astype(np.int64) - z) * s
            self.const_qp[node.output[0]] = (qp, ax)
            if kind == (32, True) and np.all(z == 0):
                self.bias_ints[node.output[0]] = codes.astype(np.int64)
            self.qreport.add(node.name, node.op_type, None, "constant dequantized")
            return
        t = self.tensor(node, q)
        qp, ax = self.qparams(node, node.input[1], node.input[2] if len(node.input) > 2 else None)
        have = self.b.graph.node(t.name).qparams
        if have is None:
            raise ModelError(f"ONNX node {node.name!r}: DequantizeLinear of {q!r}, which is not a "
                             "quantized tensor")
        if q in self.clipped:  # the clip narrowed the type; scale and zero point must agree
            qp = QuantParams(qp.scale, qp.zero_point, have.bits, have.signed, have.narrow_range) \
                if qp.is_per_tensor and have.is_per_tensor else qp
        if have != qp:
            raise ModelError(f"ONNX node {node.name!r}: DequantizeLinear parameters {qp} differ from "
                             f"the quantization of {q!r} ({have})")
        self.vals[node.output[0]] = t
        self.qreport.add(node.name, node.op_type, None, f"real value of {t.name}")

    # ------------------------------------------------------------------ float ops with quantized weights
    def _weights_of(self, node, w_name: str, out_axis: int, ndim: int):
        qp = self.weight_qp(node, w_name, out_axis, ndim)
        return qp

    def _mac_done(self, node, qp: QuantParams | None, bias_input: int) -> None:
        name = self.vals[node.output[0]].name
        if qp is not None:
            self.weights[name] = qp
        b = node.input[bias_input] if len(node.input) > bias_input else ""
        if b in self.bias_ints:
            self.bias_codes[name] = np.broadcast_to(self.bias_ints[b], self.b.graph.node(name).params["bias"].shape)

    def op_Gemm(self, node):
        if self.attr(node, "alpha", 1.0) != 1.0 or self.attr(node, "beta", 1.0) != 1.0:
            raise ModelError(f"ONNX node {node.name!r}: Gemm with alpha/beta != 1 in a quantized model")
        qp = self._weights_of(node, node.input[1], 0 if self.attr(node, "transB", 0) else 1, 2)
        super().op_Gemm(node)
        self._mac_done(node, qp, 2)

    def op_MatMul(self, node):
        qp = self._weights_of(node, node.input[1], 1, 2)
        super().op_MatMul(node)
        self._mac_done(node, qp, 2)

    def op_Conv(self, node):
        w = self.const(node, node.input[1])
        qp = self._weights_of(node, node.input[1], 0, w.ndim)
        super().op_Conv(node)
        self._mac_done(node, qp, 2)

    def op_Add(self, node):
        if self._chained(node):
            return
        a, b = node.input
        if a in self.consts or b in self.consts:
            x, c = (b, a) if a in self.consts else (a, b)
            if self.fold_add(node, x, self.consts[c]) or self.const_between(node, x, c):
                return
            raise ModelError(f"ONNX node {node.name!r}: Add of a constant is supported right after a "
                             "Conv/Gemm/MatMul (as its bias), between a DequantizeLinear and a "
                             "QuantizeLinear (a code table), or on the host before the first / after "
                             "the last quantizer")
        if self._fused_add(node):
            return
        super().op_Add(node)
        self._qdq_reference(node)

    def _fused_add(self, node) -> bool:
        """DequantizeLinear x2 -> Add -> QuantizeLinear of one 8-bit type: onnxruntime (default
        session options) fuses the group into its QLinearAdd kernel, so it becomes qlinear_add
        (the kernel's float32 arithmetic, exactly). Other Adds keep the float path's mapping."""
        dqs = [self.producer.get(i) for i in node.input]
        readers = self.readers.get(node.output[0], [])
        if any(d is None or d.op_type != "DequantizeLinear" for d in dqs) or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear":
            return False
        q = readers[0]
        qp, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        ta, tb = (self.tensor(node, i) for i in node.input)
        if axis is not None or self._qlinear_add_form(ta, tb, qp, 0) is None:
            return False
        ref = self._ort_add_probe(dqs, node, q, ta, tb)
        # onnxruntime on x86 turns int8 Q -> DQ pairs into uint8 ones (zero points + 128) before it
        # fuses, which moves F and so the float32 rounding: the shift whose codes equal the probe's
        shifts = (0, 128) if qp.signed else (0,)
        good = [k for k in shifts if ref is not None and np.array_equal(self._qlinear_add_codes(ta, tb, qp, k), ref)]
        name = self._qlinear_add(node, ta, tb, qp, good[0] if good else 0)
        self._set(node, _Tensor(name, ta.channels_last, ta.perm), "qlinear_add")
        if ref is not None:
            self.reference[name] = ref
        return True

    def _ort_add_probe(self, dqs, node, q, ta: _Tensor, tb: _Tensor) -> np.ndarray | None:
        """onnxruntime's output code for every pair of input codes of DequantizeLinear x2 -> Add
        -> QuantizeLinear, run as the model runs it: float inputs through a QuantizeLinear before
        each DequantizeLinear and a DequantizeLinear after, so onnxruntime rewrites the group as it
        rewrites the model (int8 pairs turned into uint8 on x86, then QLinearAdd)."""
        from onnx import helper

        qa, qb = self.b.graph.node(ta.name).qparams, self.b.graph.node(tb.name).qparams
        try:
            import onnxruntime  # noqa: F401  (missing: the error below names the extra)
        except ImportError:
            raise ModelError("a quantized Add is checked against onnxruntime: pip install 'qhw[onnx]'") from None
        feeds, nodes = {}, []
        ca, cb = np.meshgrid(np.arange(qa.qmin, qa.qmax + 1), np.arange(qb.qmin, qb.qmax + 1), indexing="ij")
        if dqs[0].input[0] == dqs[1].input[0]:
            return None  # x + x: one tensor, not every pair (compared by the lowering's own check)
        for k, (d, qpx, codes) in enumerate(((dqs[0], qa, ca), (dqs[1], qb, cb))):
            x = f"probe_{k}"
            nodes.append(helper.make_node("QuantizeLinear", [x, *d.input[1:]], [d.input[0]], f"probe_q{k}"))
            feeds[x] = ((codes.ravel() - int(qpx.zero_point)).astype(np.float32) * np.float32(qpx.scale)).astype(np.float32)
        nodes += list({id(n): n for n in dqs}.values()) + [node, q]
        nodes.append(helper.make_node("DequantizeLinear", [q.output[0], *q.input[1:]], ["probe_y"], "probe_dq"))
        names = {i for n in nodes for i in n.input if i} - set(feeds)
        inits = [t for t in self.g.initializer if t.name in names]
        consts = [n for n in self.g.node if n.op_type == "Constant" and n.output[0] in names]
        graph = helper.make_graph(consts + nodes, "probe",
                                  [helper.make_tensor_value_info(k, 1, [None]) for k in feeds],
                                  [helper.make_tensor_value_info("probe_y", 1, None)], inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        model.ir_version = self.model_ir
        y = np.asarray(_ort_first(model, feeds, node.name, "run it on all code pairs", True), np.float64)
        qo, _ = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        codes = np.rint(y / np.float32(qo.scale)).astype(np.int64) + int(qo.zero_point)
        return codes.reshape(ca.shape)

    def _qlinear_add_form(self, a: _Tensor, b: _Tensor, qp: QuantParams, shift: int) -> dict | None:
        """onnxruntime's QLinearAdd constants (qhw.ops.qlinear_add.onnxruntime_form) for a + b
        quantized by qp, every zero point moved by ``shift`` (128: the uint8 form onnxruntime runs
        an int8 QDQ group in), or None when the kernel does not apply (not one 8-bit type for a,
        b and the output, or quantized per axis) or its exact form would not fit 64-bit integers
        (scale ratios below 2**-27)."""
        from qhw.ops.qlinear_add import onnxruntime_form

        qa, qb = self.b.graph.node(a.name).qparams, self.b.graph.node(b.name).qparams
        if qa is None or qb is None or any(not q.is_per_tensor or q.narrow_range for q in (qa, qb, qp)) \
                or {(q.bits, q.signed) for q in (qa, qb, qp)} not in ({(8, True)}, {(8, False)}):
            return None
        za, zb, zc = (int(x.zero_point) + shift for x in (qa, qb, qp))
        try:
            return onnxruntime_form(float(qa.scale), float(qb.scale), float(qp.scale), za, zb, zc,
                                    np.arange(qb.qmin, qb.qmax + 1) - int(qb.zero_point))
        except ModelError:  # scales far outside practice: the single-rounding add, its pairs noted
            return None

    def _qlinear_add_codes(self, a: _Tensor, b: _Tensor, qp: QuantParams, shift: int) -> np.ndarray:
        """The output codes (with qp's zero point) of the form for every pair of input codes."""
        from qhw.ops.qlinear_add import round_float32_sum

        form = self._qlinear_add_form(a, b, qp, shift)
        qa, qb = self.b.graph.node(a.name).qparams, self.b.graph.node(b.name).qparams
        da = np.arange(qa.qmin, qa.qmax + 1) - int(qa.zero_point)
        v = da[:, None] * form["multiplier"] + form["table"].astype(np.int64)[None, :]
        r = round_float32_sum(v, form["frac"]) - form["zero_point"] + int(qp.zero_point)
        return np.clip(r, qp.qmin, qp.qmax)

    def _qlinear_add(self, node, a: _Tensor, b: _Tensor, qp: QuantParams, shift: int = 0) -> str | None:
        """A qlinear_add node (onnxruntime's QLinearAdd kernel, exact) of a + b quantized by qp,
        or None when the kernel does not apply (:meth:`_qlinear_add_form`): its table is indexed
        by b's code from qmin (the lowering re-indexes it by zero-point-free code)."""
        form = self._qlinear_add_form(a, b, qp, shift)
        if form is None:
            return None
        zc = int(qp.zero_point)
        attrs = {k: form[k] for k in ("multiplier", "frac", "zero_point")}
        attrs.update(lo=qp.qmin - zc, hi=qp.qmax - zc)
        name = self.b.node(self.name_for(node), "qlinear_add", [a.name, b.name], attrs, {"table": form["table"]})
        self.b.graph.node(name).qparams = qp
        return name

    def _keep_qparams(self, node) -> None:
        """maxpool/flatten/reshape of codes: the same codes, the same quantization."""
        src = self.b.graph.node(self.tensor(node, node.input[0]).name)
        out = self.b.graph.node(self.vals[node.output[0]].name)
        if out.qparams is None:
            out.qparams = src.qparams

    def op_MaxPool(self, node):
        super().op_MaxPool(node)
        self._keep_qparams(node)

    def op_Flatten(self, node):
        super().op_Flatten(node)
        self._keep_qparams(node)

    def op_Resize(self, node):
        super().op_Resize(node)
        self._keep_qparams(node)

    op_Upsample = op_Resize

    def op_DepthToSpace(self, node):
        super().op_DepthToSpace(node)
        self._keep_qparams(node)

    def op_Reshape(self, node):
        super().op_Reshape(node)
        self._keep_qparams(node)

    def op_Transpose(self, node):
        """A Transpose of a constant (PyTorch's legacy exporter transposes Linear weights after
        quantizing them) is folded; its quantization axis moves with it."""
        x = node.input[0]
        if x in self.vals and x not in self.consts:
            return self._transpose_tensor(node)
        if x not in self.consts and x not in self.ints:
            raise ModelError(f"ONNX node {node.name!r}: Transpose of the tensor {x!r} inside the "
                             "hardware is not supported (a Transpose of a constant is)")
        src = self.consts[x] if x in self.consts else self.ints[x]
        perm = self.attr(node, "perm")
        perm = list(perm) if perm is not None else list(range(np.ndim(src)))[::-1]
        out = node.output[0]
        if x in self.consts:
            self.consts[out] = np.transpose(self.consts[x], perm)
        if x in self.ints:
            self.ints[out] = np.transpose(self.ints[x], perm)
        if x in self.bias_ints:
            self.bias_ints[out] = np.transpose(self.bias_ints[x], perm)
        if x in self.const_qp:
            qp, axis = self.const_qp[x]
            self.const_qp[out] = (qp, None if axis is None else perm.index(axis))
        self.qreport.add(node.name, node.op_type, None, "constant transposed")

    # ------------------------------------------------------------------ float ops after a MAC
    def mac_before(self, node, x_name: str):
        """The affine MAC node a constant Add/Sub/Mul/Div/BatchNormalization after it can fold
        into (its output read by nothing else), or None."""
        t = self.tensor(node, x_name)
        prev = self.b.graph.node(t.name)
        if prev.op in ("dense", "conv1d", "conv2d") and prev.qparams is None \
                and self.consumers.get(x_name, 0) == 1:
            return t, prev
        return t, None

    def _channel(self, node, c: np.ndarray, n: int) -> np.ndarray:
        c = np.asarray(c, np.float64)
        if c.size == 1:
            return np.full(n, float(c.ravel()[0]))
        if c.size != n or max(c.shape) != n:
            raise ModelError(f"ONNX node {node.name!r}: constant of shape {c.shape} is not per "
                             f"channel ({n}) or scalar")
        return c.ravel().copy()

    def _float_bias(self, prev) -> None:
        """A folded float op changes the bias: it is no longer the stored int32 codes."""
        self.bias_codes.pop(prev.name, None)

    def fold_add(self, node, x: str, c: np.ndarray) -> bool:
        t, prev = self.mac_before(node, x)
        if prev is None:
            return False
        n = prev.params["weight"].shape[-1]
        self._float_bias(prev)
        prev.params["bias"] = prev.params.get("bias", np.zeros(n)) + self._channel(node, c, n)
        self.vals[node.output[0]] = t
        self.qreport.add(node.name, node.op_type, None, f"bias of {prev.name}")
        return True

    def fold_mul(self, node, x: str, c: np.ndarray) -> bool:
        t, prev = self.mac_before(node, x)
        if prev is None:
            return False
        n = prev.params["weight"].shape[-1]
        k = self._channel(node, c, n)
        self.post_scale[prev.name] = self.post_scale.get(prev.name, np.ones(n)) * k
        if "bias" in prev.params:
            self._float_bias(prev)
            prev.params["bias"] = prev.params["bias"] * k
        self.vals[node.output[0]] = t
        self.qreport.add(node.name, node.op_type, None, f"output scale of {prev.name}")
        return True

    def op_Mul(self, node):
        if self._chained(node):
            return
        a, b = node.input
        if a not in self.consts and b not in self.consts:  # two tensors: a quantized product
            ta, tb = self.tensor(node, a), self.tensor(node, b)
            name = self.b.mul(self.name_for(node), ta.name, tb.name)
            self._set(node, _Tensor(name, ta.channels_last, ta.perm), "mul")
            self._qdq_reference(node)
            return
        x, c = (b, a) if a in self.consts else (a, b)
        if (a in self.consts) == (b in self.consts) or \
                not (self.fold_mul(node, x, self.consts[c]) or self.const_between(node, x, c)):
            raise ModelError(f"ONNX node {node.name!r}: Mul by a constant is supported right after a "
                             "Conv/Gemm/MatMul (its requantization), between a DequantizeLinear and a "
                             "QuantizeLinear (a code table), or before the first / after the last "
                             "quantizer (on the host)")

    def op_Sub(self, node):
        """x - c after a MAC: a bias of -c (c - x is not an integer operation qhw maps)."""
        if self._chained(node):
            return
        a, b = node.input
        if a in self.consts and b not in self.consts and self.const_between(node, b, a):
            return  # c - x between quantizers: a code table
        if b not in self.consts or a in self.consts or not (
                self.fold_add(node, a, -np.asarray(self.consts[b])) or self.const_between(node, a, b)):
            raise ModelError(f"ONNX node {node.name!r}: Sub is supported as tensor - constant right "
                             "after a Conv/Gemm/MatMul, with a constant between a DequantizeLinear and a "
                             "QuantizeLinear (a code table), or before the first quantizer / after the "
                             "last quantized tensor, on the host")

    def op_Div(self, node):
        """x / c after a MAC: an output scale of 1/c in the requantization multiplier (the
        producer divides in float32: a result within float32 rounding of a tie may differ)."""
        if self._chained(node):
            return
        a, b = node.input
        c = np.asarray(self.consts.get(b, np.nan), np.float64)
        if a in self.consts and b not in self.consts and self.const_between(node, b, a):
            return  # c / x between quantizers: a code table
        if b not in self.consts or a in self.consts or not (
                (np.all(c != 0) and self.fold_mul(node, a, 1.0 / c)) or self.const_between(node, a, b)):
            raise ModelError(f"ONNX node {node.name!r}: Div is supported as tensor / non-zero constant "
                             "right after a Conv/Gemm/MatMul, by or of a constant between a "
                             "DequantizeLinear and a QuantizeLinear (a code table)")

    def op_BatchNormalization(self, node):
        """After a MAC: its factor into the requantization, its shift into the bias (Brevitas'
        QuantLinear/QuantConv + BatchNorm, QONNX and QCDQ)."""
        t, prev = self.mac_before(node, node.input[0])
        if prev is None:
            raise ModelError(f"ONNX node {node.name!r}: BatchNormalization is supported only right "
                             "after a Conv/Gemm/MatMul whose output nothing else reads")
        gamma, beta, mean, var = (np.asarray(self.const(node, n), np.float64) for n in node.input[1:5])
        k = gamma / np.sqrt(var + self.attr(node, "epsilon", 1e-5))
        n = prev.params["weight"].shape[-1]
        self.post_scale[prev.name] = self.post_scale.get(prev.name, np.ones(n)) * k
        self._float_bias(prev)
        prev.params["bias"] = (prev.params.get("bias", np.zeros(n)) - mean) * k + beta
        self.vals[node.output[0]] = t
        self.qreport.add(node.name, node.op_type, None, f"requantization of {prev.name}")

    # ------------------------------------------------------------------ code tables
    def _ort_table(self, nodes, in_name: str, out_name: str, qp_in: QuantParams,
                   qp_out: QuantParams, dims: int = 0) -> np.ndarray:
        """The output code of every input code in [qmin, qmax], computed by onnxruntime running
        these very nodes (so the table is what the producer's runtime computes, exactly). With
        ``dims``, the codes are fed as shape (n, 1, ...) of rank 1 + dims (a per-channel constant
        broadcasts them) and the result is (n, channels)."""
        from onnx import TensorProto, helper

        try:
            import onnxruntime  # noqa: F401  (missing: the error below names the extra)
        except ImportError:
            raise ModelError("a quantized elementwise function becomes a table computed by "
                             "onnxruntime: pip install 'qhw[onnx]'") from None
        from qhw import limits

        limits.check("table_entries", qp_in.qmax - qp_in.qmin + 1, f"code table of {nodes[0].name!r}")
        types = {(8, True): (TensorProto.INT8, np.int8), (8, False): (TensorProto.UINT8, np.uint8),
                 (16, True): (TensorProto.INT16, np.int16), (16, False): (TensorProto.UINT16, np.uint16)}
        kind, out_kind = types.get((qp_in.bits, qp_in.signed)), types.get((qp_out.bits, qp_out.signed))
        if kind is None or out_kind is None:
            raise ModelError(f"ONNX node {nodes[1].name!r}: a code table needs 8- or 16-bit input codes, "
                             f"got {qp_in}")
        names = {i for n in nodes for i in n.input if i} - {in_name}
        inits = [i for i in self.g.initializer if i.name in names]
        consts = [n for n in self.g.node if n.op_type == "Constant" and n.output[0] in names]
        graph = helper.make_graph(consts + list(nodes), "code_table",
                                  [helper.make_tensor_value_info(in_name, kind[0], [None] + [1] * dims)],
                                  [helper.make_tensor_value_info(out_name, out_kind[0], [None] * (1 + dims))],
                                  inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        model.ir_version = self.model_ir
        codes = np.arange(qp_in.qmin, qp_in.qmax + 1).astype(kind[1])
        out = _ort_first(model, {in_name: codes.reshape((-1,) + (1,) * dims)},
                         nodes[min(1, len(nodes) - 1)].name, "compute its code table")
        out = np.asarray(out, np.int64)
        return out.reshape((codes.size,) + out.shape[1:]) if dims else out.reshape(-1)

    def _table(self, node, t: _Tensor, nodes, in_name: str, out_name: str, qp_in, qp_out) -> None:
        table = self._ort_table(nodes, in_name, out_name, qp_in, qp_out)
        name = self.b.node(self.name_for(node), "code_table", [t.name], params={"table": table})
        self.b.graph.node(name).qparams = qp_out
        self._set(node, _Tensor(name, t.channels_last, t.perm), f"code_table ({table.size} codes)")

    def op_table(self, node):
        """An elementwise float op between DequantizeLinear and QuantizeLinear: a table of
        output codes indexed by the input code."""
        if self._chained(node):
            return
        x = node.input[0]
        dq = self.producer.get(x)
        readers = self.readers.get(node.output[0], [])
        if len(readers) == 1 and readers[0].op_type != "QuantizeLinear" and len(node.input) == 1 \
                and self.const_between(node, x, None):
            return  # followed by constant ops (Sigmoid -> Mul by c -> QuantizeLinear): one table
        if dq is None or dq.op_type != "DequantizeLinear" or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear" or len(self.readers.get(x, [])) != 1:
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} in a quantized model is mapped "
                             "between a DequantizeLinear and a QuantizeLinear (as a table of codes); "
                             "this one is not")
        q = readers[0]
        t = self.tensor(node, x)
        qp_in = self.b.graph.node(t.name).qparams
        qp_out, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if qp_in is None or axis is not None or not qp_in.is_per_tensor:
            raise ModelError(f"ONNX node {node.name!r}: a code table needs per-tensor quantization "
                             "on both sides")
        self._table(node, t, [dq, node, q], dq.input[0], q.output[0], qp_in, qp_out)

    def op_qlinear_table(self, node):
        """com.microsoft QLinearSigmoid / QLinearLeakyRelu: a table of codes."""
        i = list(node.input) + [""] * (5 - len(node.input))
        t = self.expect(node, i[0], i[1], i[2])
        qp_out, _ = self.qparams(node, i[3], i[4] or None)
        self._table(node, t, [node], i[0], node.output[0], self.b.graph.node(t.name).qparams, qp_out)

    # ------------------------------------------------------------------ constant ops between quantizers
    def _const_nodes(self, name: str) -> list:
        """The nodes computing the constant ``name`` (a QuantizeLinear of a float Constant, a
        DequantizeLinear of codes, ...) in model order; Constant nodes are added by the runner."""
        found, todo = set(), [name]
        while todo:
            p = self.producer.get(todo.pop())
            if p is not None and p.op_type != "Constant" and id(p) not in found:
                found.add(id(p))
                todo.extend(i for i in p.input if i)
        return [n for n in self.g.node if id(n) in found]

    def _is_const(self, name: str) -> bool:
        """Whether an ONNX value is computed from initializers and Constant nodes only (walked
        without recursion: a model's chain of nodes may be long)."""
        todo, seen = [name], set()
        while todo:
            v = todo.pop()
            if not v or v in self.consts or v in self.ints or v in seen:
                continue
            seen.add(v)
            p = self.producer.get(v)
            if p is None:
                return False
            if p.op_type != "Constant":
                todo.extend(p.input)
        return True

    def _elementwise_chain(self, node) -> tuple[list, Any]:
        """The float ops after ``node`` up to the QuantizeLinear that quantizes their result
        (onnxruntime's quantizer leaves Sub, Div, ... unquantized: x - c / d -> QuantizeLinear),
        each read only by the next: constant Add/Sub/Mul/Div and the elementwise functions of
        TABLE_OPS. ([], None) when the chain does not end in a QuantizeLinear."""
        chain, cur = [], node
        while True:
            readers = self.readers.get(cur.output[0], [])
            if len(readers) != 1 or cur.output[0] in [o.name for o in self.g.output]:
                return [], None
            r = readers[0]
            if r.op_type == "QuantizeLinear":
                return chain, r
            consts = [self._is_const(i) for i in r.input]
            if not (r.op_type in TABLE_OPS or r.op_type in ("Add", "Sub", "Mul", "Div")
                    and len(r.input) == 2 and sum(consts) == 1):
                return [], None
            chain.append(r)
            cur = r

    def _chained(self, node) -> bool:
        """A float op already inside the code table of the op before it."""
        return id(node) in self.chained

    def _const_table(self, node, t: _Tensor, nodes, in_name: str, out_name: str,
                     qp_out: QuantParams, last=None) -> None:
        """x op constant between quantizers (Mul/Add/Sub/Div, a chain of them; QLinearMul/QLinearAdd
        with a constant input): onnxruntime's output code for every input code, fed with the
        input's rank so a constant broadcasts; one table per channel when the result varies along
        the channel axis (qhw's last axis). ``last``: the node whose output the table stands for."""
        qp_in = self.b.graph.node(t.name).qparams
        if qp_in is None or not qp_in.is_per_tensor:
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} by a constant is mapped as a code "
                             "table of a tensor quantized per tensor; this input is not")
        from qhw import limits

        widest = max([int(np.size(self.consts.get(i, self.ints.get(i, 0)))) for n in nodes for i in n.input
                      if i and i != in_name] + [1])  # the largest constant: onnxruntime's result width
        limits.check("table_entries", (qp_in.qmax - qp_in.qmin + 1) * widest, f"code table of {node.name!r}")
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        ch = 1 if t.channels_last else rank - 1
        out = self._ort_table(nodes, in_name, out_name, qp_in, qp_out, rank - 1)
        rest = out.shape[1:]
        if len(rest) != rank - 1 or any(d != 1 for k, d in enumerate(rest) if k != ch - 1) \
                or rest[ch - 1] not in (1, shape[-1]) or t.perm is not None and rest[ch - 1] != 1:
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} by a constant between quantizers "
                             f"gives per-code results of shape {tuple(rest)} for a rank-{rank} input: qhw "
                             f"maps a scalar or one value per channel (axis {ch} of {shape[-1]}) as code "
                             "tables, not this broadcast")
        table = out.reshape(out.shape[0], -1)
        table = table[:, 0] if table.shape[1] == 1 else table.T.copy()
        name = self.b.node(self.name_for(node), "code_table", [t.name], params={"table": table})
        self.b.graph.node(name).qparams = qp_out
        per = f"{table.shape[0]} channels x " if table.ndim == 2 else ""
        self._set(last or node, _Tensor(name, t.channels_last, t.perm),
                  f"code_table ({per}{table.shape[-1]} codes, computed by onnxruntime)")

    def const_between(self, node, x: str, c: str | None) -> bool:
        """DequantizeLinear -> Mul/Add/Sub/Div by a constant (and further constant or elementwise
        float ops) -> QuantizeLinear, as onnxruntime leaves them (or does not fuse them in a
        QOperator model): one table of codes; False when the op is not between quantizers."""
        dq = self.producer.get(x)
        chain, q = self._elementwise_chain(node)
        if dq is None or dq.op_type != "DequantizeLinear" or x not in self.vals or q is None:
            return False
        qp_out, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if axis is not None:
            raise ModelError(f"ONNX node {q.name!r}: per-axis quantization of an activation cannot be "
                             "lowered; activations must be quantized per tensor")
        ops = [node] + chain
        consts = [n for op in ops for i in op.input if i != x and self._is_const(i) for n in self._const_nodes(i)]
        nodes = [n for n in self.g.node if n is dq or any(n is m for m in consts + ops)] + [q]
        self._const_table(node, self.tensor(node, x), nodes, dq.input[0], q.output[0], qp_out,
                          last=ops[-1])
        self.chained.update(id(n) for n in chain)
        for n in chain:
            self.qreport.add(n.name, n.op_type, None, f"in the code table of {node.name!r}")
        return True

    def qlinear_const(self, node, i: list) -> bool:
        """QLinearAdd/QLinearMul with one constant input (quantize_static quantizes x * 3.0 so): a
        table of codes computed by onnxruntime; False when both inputs are tensors."""
        ka = i[0] in self.ints and i[0] not in self.vals
        kb = i[3] in self.ints and i[3] not in self.vals
        if ka == kb:
            return False
        x, s, z, c = (i[3], i[4], i[5], i[0]) if ka else (i[0], i[1], i[2], i[3])
        t = self.expect(node, x, s, z)
        qp_out, _ = self.qparams(node, i[6], i[7] if len(i) > 7 else None)
        self._const_table(node, t, self._const_nodes(c) + [node], x, node.output[0], qp_out)
        return True

    # ------------------------------------------------------------------ QOperator
    def expect(self, node, name: str, s_name: str, z_name: str) -> _Tensor:
        t = self.tensor(node, name)
        qp, _ = self.qparams(node, s_name, z_name)
        have = self.b.graph.node(t.name).qparams
        if have != qp:
            raise ModelError(f"ONNX node {node.name!r}: input {name!r} is declared with {qp} but was "
                             f"quantized with {have}")
        return t

    def weight_const(self, node, w: str, s: str, z: str, out_axis: int) -> tuple[np.ndarray, QuantParams]:
        codes = np.asarray(self.ints.get(w)) if w in self.ints else None
        if codes is None:
            raise ModelError(f"ONNX node {node.name!r}: weight {w!r} must be a constant")
        kind = _int_kind(codes.dtype)
        qp, _ = self.qparams(node, s, z, out_axis, kind or (8, True))
        shape = [1] * codes.ndim
        if not qp.is_per_tensor:
            shape[out_axis] = -1
        real = (codes.astype(np.int64) - np.asarray(qp.zero_point, np.int64).reshape(shape)) * \
            np.asarray(qp.scale, np.float64).reshape(shape)
        return real, qp

    def _qbias(self, node, name: str | None, sx: float, qw: QuantParams, n: int):
        if not name:
            return None
        if name not in self.ints:
            raise ModelError(f"ONNX node {node.name!r}: bias {name!r} must be a constant")
        return np.asarray(self.ints[name], np.float64) * sx * np.broadcast_to(
            np.asarray(qw.scale, np.float64), (n,))

    def op_QLinearConv(self, node):
        i = list(node.input) + [""] * (9 - len(node.input))
        x = self.expect(node, i[0], i[1], i[2])
        w, qw = self.weight_const(node, i[3], i[4], i[5], 0)
        dims = w.ndim - 2
        if dims not in (1, 2) or self.attr(node, "group", 1) != 1:
            raise ModelError(f"ONNX node {node.name!r}: only 1-D/2-D convolutions with group=1 are supported")
        attrs = self._spatial_attrs(node, dims, list(w.shape[2:]))
        attrs["dilation"] = list(self.attr(node, "dilations", [1] * dims))
        params = {"weight": np.transpose(w, tuple(range(2, 2 + dims)) + (1, 0))}
        bias = self._qbias(node, i[8], float(self.b.graph.node(x.name).qparams.scale), qw, w.shape[0])
        if bias is not None:
            params["bias"] = bias
        name = self.b.node(self.name_for(node), f"conv{dims}d", [x.name], attrs, params)
        if bias is not None:
            self.bias_codes[name] = np.asarray(self.ints[i[8]], np.int64)
        self.b.graph.node(name).qparams, _ = self.qparams(node, i[6], i[7])
        self.weights[name] = qw
        self._set(node, _Tensor(name, True), f"conv{dims}d")

    def _qdense(self, node, x: _Tensor, w: np.ndarray, qw: QuantParams, bias_name, y_s, y_z):
        if x.perm is not None:
            w = w[x.perm]
        params = {"weight": w}
        bias = self._qbias(node, bias_name, float(self.b.graph.node(x.name).qparams.scale), qw, w.shape[1])
        if bias is not None:
            params["bias"] = bias
        name = self.b.node(self.name_for(node), "dense", [x.name], params=params)
        if bias is not None:
            self.bias_codes[name] = np.broadcast_to(np.asarray(self.ints[bias_name], np.int64), (w.shape[1],))
        if y_s:
            self.b.graph.node(name).qparams, _ = self.qparams(node, y_s, y_z)
        self.weights[name] = qw
        self._set(node, _Tensor(name), "dense")

    def op_QLinearMatMul(self, node):
        i = list(node.input)
        x = self.expect(node, i[0], i[1], i[2])
        w, qw = self.weight_const(node, i[3], i[4], i[5], 1)
        if w.ndim != 2:
            raise ModelError(f"ONNX node {node.name!r}: QLinearMatMul needs a 2-D constant weight")
        self._qdense(node, x, w, qw, None, i[6], i[7])

    def op_QGemm(self, node):
        i = list(node.input) + [""] * (9 - len(node.input))
        if self.attr(node, "transA", 0) or self.attr(node, "alpha", 1.0) != 1.0:
            raise ModelError(f"ONNX node {node.name!r}: QGemm with transA or alpha != 1 is not supported")
        x = self.expect(node, i[0], i[1], i[2])
        tb = bool(self.attr(node, "transB", 0))
        w, qw = self.weight_const(node, i[3], i[4], i[5], 0 if tb else 1)
        self._qdense(node, x, w.T if tb else w, qw, i[6], i[7] or None, i[8] or None)

    def op_QLinearAdd(self, node):
        self._qlinear_merge(node, self.b.add, "add")

    def op_QLinearMul(self, node):
        self._qlinear_merge(node, self.b.mul, "mul")

    def _qlinear_merge(self, node, build, kind: str) -> None:
        """com.microsoft QLinearAdd/QLinearMul: a constant input makes a code table
        (:meth:`qlinear_const`); two quantized inputs are merged by ``build`` (an Add of one
        8-bit type: qlinear_add, the kernel's arithmetic) and checked against onnxruntime on every
        input code pair."""
        i = list(node.input)
        if self.qlinear_const(node, i):
            return
        a = self.expect(node, i[0], i[1], i[2])
        b = self.expect(node, i[3], i[4], i[5])
        qp, _ = self.qparams(node, i[6], i[7] if len(i) > 7 else None)
        name = self._qlinear_add(node, a, b, qp) if kind == "add" else None
        if name is not None:
            kind = "qlinear_add"
        else:
            name = build(self.name_for(node), a.name, b.name)
            self.b.graph.node(name).qparams = qp
        self._set(node, _Tensor(name, a.channels_last, a.perm), kind)
        self.reference[name] = self._ort_pairs([node], i[0], i[3], node.output[0], a, b, qp)

    # ------------------------------------------------------------------ merges
    def _ort_codes(self, nodes, feeds: dict[str, tuple[QuantParams, np.ndarray]], out_name: str,
                   qp_out: QuantParams, what, shape=None) -> np.ndarray:
        """onnxruntime's output codes of ``nodes`` (default session options, as users run them:
        it fuses QDQ groups into its QLinear kernels) for 1-D code inputs."""
        from onnx import TensorProto, helper

        try:
            import onnxruntime  # noqa: F401  (missing: the error below names the extra)
        except ImportError:
            raise ModelError("a quantized Add/Mul/Concat is checked against / tabulated by "
                             "onnxruntime: pip install 'qhw[onnx]'") from None
        types = {(8, True): (TensorProto.INT8, np.int8), (8, False): (TensorProto.UINT8, np.uint8),
                 (16, True): (TensorProto.INT16, np.int16), (16, False): (TensorProto.UINT16, np.uint16)}
        kinds = [types.get((qp.bits, qp.signed)) for qp, _ in feeds.values()] + \
            [types.get((qp_out.bits, qp_out.signed))]
        if any(k is None for k in kinds):
            raise ModelError(f"ONNX node {what.name!r}: onnxruntime's arithmetic is reproduced for 8- "
                             "or 16-bit codes only")
        nodes = list({id(n): n for n in nodes}.values())  # a DequantizeLinear read twice (x * x) once
        names = {i for n in nodes for i in n.input if i} - set(feeds)
        inits = [t for t in self.g.initializer if t.name in names]
        consts = [n for n in self.g.node if n.op_type == "Constant" and n.output[0] in names]
        graph = helper.make_graph(
            consts + list(nodes), "reference",
            [helper.make_tensor_value_info(k, kind[0], shape or [None]) for k, kind in zip(feeds, kinds)],
            [helper.make_tensor_value_info(out_name, kinds[-1][0], shape or [None])], inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        model.ir_version = self.model_ir
        out = _ort_first(model, {k: c.astype(kind[1]).reshape([-1] + list(shape or [])[1:])
                                 for (k, (_, c)), kind in zip(feeds.items(), kinds)},
                         what.name, "run it on all codes")
        return np.asarray(out, np.int64).reshape(-1)

    def _ort_pairs(self, nodes, a_name: str, b_name: str, out_name: str, a: _Tensor, b: _Tensor,
                   qp_out: QuantParams) -> np.ndarray | None:
        """onnxruntime's output code for every pair of 8-bit input codes (na, nb); for one tensor
        read twice (x * x), for every code (na,); None for wider codes."""
        qa, qb = self.b.graph.node(a.name).qparams, self.b.graph.node(b.name).qparams
        if qa is None or qb is None or qa.bits > 8 or qb.bits > 8:
            return None
        if a_name == b_name:
            return self._ort_codes(nodes, {a_name: (qa, np.arange(qa.qmin, qa.qmax + 1))}, out_name,
                                   qp_out, nodes[-1])
        ca, cb = np.meshgrid(np.arange(qa.qmin, qa.qmax + 1), np.arange(qb.qmin, qb.qmax + 1), indexing="ij")
        out = self._ort_codes(nodes, {a_name: (qa, ca.ravel()), b_name: (qb, cb.ravel())}, out_name,
                              qp_out, nodes[-1])
        return out.reshape(ca.shape)

    def _qdq_reference(self, node) -> None:
        """DequantizeLinear x2 -> Add/Mul -> QuantizeLinear: onnxruntime's codes for every input
        pair (AffineGraph.reference), so the lowering can prove or qualify its integer form."""
        dqs = [self.producer.get(i) for i in node.input]
        readers = self.readers.get(node.output[0], [])
        if any(d is None or d.op_type != "DequantizeLinear" for d in dqs) or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear":
            return
        q = readers[0]
        qp_out, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if axis is not None:
            return
        ta, tb = (self.tensor(node, i) for i in node.input)
        ref = self._ort_pairs(dqs + [node, q], dqs[0].input[0], dqs[1].input[0], q.output[0], ta, tb, qp_out)
        if ref is not None:
            self.reference[self.vals[node.output[0]].name] = ref

    def _concat_axis(self, node, ts: list[_Tensor]) -> int:
        """The qhw axis of an ONNX Concat axis (channels-last layout)."""
        axis = int(self.attr(node, "axis", 1))
        if any(t.perm is not None for t in ts):
            raise ModelError(f"ONNX node {node.name!r}: Concat of flattened feature maps is not supported")
        if not ts[0].channels_last:
            if axis not in (1, -1):
                raise ModelError(f"ONNX node {node.name!r}: Concat along axis {axis} of (N, C) tensors; "
                                 "qhw concatenates features (axis 1)")
            return -1
        if axis == 1:
            return -1
        if axis >= 2:
            return axis - 2
        raise ModelError(f"ONNX node {node.name!r}: Concat along axis {axis} is not supported "
                         "(valid: the channel axis 1 or a spatial axis)")

    def _concat(self, node, ts: list[_Tensor], in_names: list[str], nodes, out_name: str,
                qp_out: QuantParams) -> None:
        """One code table per input whose codes onnxruntime requantizes (computed by running
        ``nodes`` with every code of every input), then the concatenation of equal codes."""
        qps = [self.b.graph.node(t.name).qparams for t in ts]
        if any(qp is None or not qp.is_per_tensor for qp in qps):
            raise ModelError(f"ONNX node {node.name!r}: Concat inputs must be quantized per tensor")
        for qp in qps:
            from qhw import limits

            limits.check("table_entries", qp.qmax - qp.qmin + 1, f"code table of {node.name!r}")
        feeds = {}
        for name, qp in zip(in_names, qps):
            feeds.setdefault(name, (qp, np.arange(qp.qmin, qp.qmax + 1)))
        codes = self._ort_codes(nodes, feeds, out_name, qp_out, node)
        parts, at = [], 0
        for k, (t, name, qp) in enumerate(zip(ts, in_names, qps)):
            n = qp.qmax - qp.qmin + 1
            table = codes[at:at + n]
            at += n
            if qp == qp_out and np.array_equal(table, np.arange(qp.qmin, qp.qmax + 1)):
                parts.append(t.name)
                continue
            tname = self.b.node(self.name_for(node, f"_in{k}"), "code_table", [t.name], params={"table": table})
            self.b.graph.node(tname).qparams = qp_out
            parts.append(tname)
        name = self.b.concat(self.name_for(node), parts, self._concat_axis(node, ts))
        self.b.graph.node(name).qparams = qp_out
        tables = sum(p not in [t.name for t in ts] for p in parts)
        self._set(node, _Tensor(name, ts[0].channels_last, None),
                  f"concat ({tables} input(s) requantized by code tables)")

    def _axis0(self, node):
        """A copy of a concat node along axis 0 (the 1-D code vectors onnxruntime is run on)."""
        from onnx import helper

        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "axis"}
        return helper.make_node(node.op_type, list(node.input), list(node.output), name=node.name,
                                domain=node.domain, axis=0, **attrs)

    def op_Concat(self, node):
        """DequantizeLinear per input -> Concat -> QuantizeLinear (onnxruntime: QLinearConcat)."""
        dqs = [self.producer.get(i) for i in node.input]
        readers = self.readers.get(node.output[0], [])
        if any(d is None or d.op_type != "DequantizeLinear" for d in dqs) or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear":
            raise ModelError(f"ONNX node {node.name!r}: Concat in a quantized model is mapped with a "
                             "DequantizeLinear on every input and one QuantizeLinear after it; this one is not")
        q = readers[0]
        qp_out, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if axis is not None:
            raise ModelError(f"ONNX node {node.name!r}: Concat output quantized per axis")
        ts = [self.tensor(node, i) for i in node.input]
        self._concat(node, ts, [d.input[0] for d in dqs], dqs + [self._axis0(node), q], q.output[0], qp_out)

    def op_QLinearConcat(self, node):
        """com.microsoft QLinearConcat (Y_scale, Y_zp, then X, X_scale, X_zp per input)."""
        i = list(node.input)
        if len(i) < 5 or (len(i) - 2) % 3:
            raise ModelError(f"ONNX node {node.name!r}: QLinearConcat needs Y_scale, Y_zp and "
                             f"(X, X_scale, X_zp) triples, got {len(i)} inputs")
        qp_out, _ = self.qparams(node, i[0], i[1] or None)
        ts = [self.expect(node, i[k], i[k + 1], i[k + 2]) for k in range(2, len(i), 3)]
        self._concat(node, ts, i[2::3], [self._axis0(node)], node.output[0], qp_out)

    # ------------------------------------------------------------------ softmax
    def _softmax(self, node, t: _Tensor, nodes, in_name: str, out_name: str, qp_out: QuantParams) -> None:
        """onnxruntime's QLinearSoftmax (its QDQ Softmax fuses to it) as a code_softmax: its float32
        exp table per code difference as integers (2**30 for the difference 0), the rounded
        quotient scale * t / sum with scale = floor(fl32(1 / y_scale)), and its output codes
        clip(r + y_zp) per quotient. Checked against onnxruntime on sampled rows (noted)."""
        import math

        from qhw.passes.shapes import infer_shapes

        qp_in = self.b.graph.node(t.name).qparams
        if t.channels_last or qp_in is None or qp_in.bits != 8 or qp_out.bits != 8 or not qp_in.is_per_tensor \
                or not qp_out.is_per_tensor:
            raise ModelError(f"ONNX node {node.name!r}: a quantized softmax is mapped over a vector of "
                             "8-bit codes quantized per tensor (onnxruntime's QLinearSoftmax); this one is not")
        infer_shapes(self.b.graph)
        shape = self.b.graph.node(t.name).shape
        if shape is None or len(shape) != 1:
            raise ModelError(f"ONNX node {node.name!r}: softmax of a tensor of shape {shape}; qhw maps "
                             "the softmax of a vector (N, D) over D")
        d = int(shape[0])
        xs = float(np.float32(qp_in.scale))
        shift = max(0.0, math.log(float(np.finfo(np.float32).max) / d) - 5.0) / xs
        span = qp_in.qmax - qp_in.qmin  # code differences -span .. 0
        table = np.array([np.float32(math.exp((i - span + shift) * xs)) for i in range(span + 1)], np.float64)
        exp = np.rint(table / table[-1] * 2.0 ** 30)
        k = int(math.floor(np.float32(1.0) / np.float32(qp_out.scale)))
        from qhw import limits

        limits.check("table_entries", k + 1, f"output codes of softmax {node.name!r}")
        out = np.clip(np.arange(k + 1) + int(qp_out.zero_point), qp_out.qmin, qp_out.qmax)
        name = self.b.node(self.name_for(node), "code_softmax", [t.name], {"scale": k},
                           {"exp": exp, "out": out.astype(np.float64)})
        self.b.graph.node(name).qparams = qp_out
        self._set(node, _Tensor(name, False, t.perm), "code_softmax")
        self._softmax_check(node, nodes, in_name, out_name, qp_in, qp_out, d, exp.astype(np.int64), out, k)

    def _softmax_check(self, node, nodes, in_name, out_name, qp_in, qp_out, d, exp, out, k) -> None:
        """onnxruntime on sampled rows (random codes, near-equal codes, codes at both ends) against
        the integer form; a difference is noted (which node, how many outputs, max LSB)."""
        from qhw.ops.code_softmax import divide_half_even

        rng = np.random.default_rng(0)
        lo, hi = qp_in.qmin, qp_in.qmax
        rows = [rng.integers(lo, hi + 1, size=(600, d)),
                np.clip(rng.integers(-3, 4, size=(300, d)) + rng.integers(lo, hi + 1, size=(300, 1)), lo, hi),
                np.full((1, d), lo), np.full((1, d), hi), np.where(np.eye(d, dtype=bool), hi, lo)]
        x = np.concatenate(rows)
        t = exp[np.clip(x - x.max(axis=1, keepdims=True) + exp.size - 1, 0, exp.size - 1)]
        mine = out[divide_half_even(k * t, t.sum(axis=1, keepdims=True))]
        ref = self._ort_codes(nodes, {in_name: (qp_in, x.ravel())}, out_name, qp_out, node,
                              shape=[None, d]).reshape(x.shape)
        diff = np.abs(mine - ref)
        if diff.max(initial=0):
            self.qreport.notes.append(
                f"{node.name}: {int((diff > 0).sum())} of {diff.size} sampled outputs differ from "
                f"onnxruntime's softmax by up to {int(diff.max())} LSB")

    def op_Softmax(self, node):
        """DequantizeLinear -> Softmax -> QuantizeLinear: onnxruntime runs it as QLinearSoftmax."""
        x = node.input[0]
        dq = self.producer.get(x)
        readers = self.readers.get(node.output[0], [])
        if dq is None or dq.op_type != "DequantizeLinear" or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear":
            raise ModelError(f"ONNX node {node.name!r}: Softmax in a quantized model is mapped between a "
                             "DequantizeLinear and a QuantizeLinear; this one is not")
        q = readers[0]
        opset = max([o.version for o in self.model_opsets if o.domain in ("", "ai.onnx")] or [13])
        axis = int(self.attr(node, "axis", -1 if opset >= 13 else 1))
        if axis not in (1, -1):
            raise ModelError(f"ONNX node {node.name!r}: Softmax along axis {axis}; qhw maps it over the "
                             "features of (N, D)")
        qp_out, ax = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if ax is not None:
            raise ModelError(f"ONNX node {node.name!r}: Softmax output quantized per axis")
        self._softmax(node, self.tensor(node, x), [dq, node, q], dq.input[0], q.output[0], qp_out)

    def op_QLinearSoftmax(self, node):
        """com.microsoft QLinearSoftmax (X, X_scale, X_zp, Y_scale, Y_zp; attrs axis, opset)."""
        i = list(node.input) + [""] * (5 - len(node.input))
        t = self.expect(node, i[0], i[1], i[2] or None)
        opset = int(self.attr(node, "opset", 13))
        axis = int(self.attr(node, "axis", -1 if opset >= 13 else 1))
        if axis not in (1, -1):
            raise ModelError(f"ONNX node {node.name!r}: QLinearSoftmax along axis {axis}; qhw maps it "
                             "over the features of (N, D)")
        qp_out, _ = self.qparams(node, i[3], i[4] or None)
        self._softmax(node, t, [node], i[0], node.output[0], qp_out)

    # ------------------------------------------------------------------ averages (issue 17.4)
    #: whose arithmetic an average's codes reproduce (the runtime :meth:`_ort_run` runs)
    runtime = "onnxruntime"

    def _qdq_around(self, node):
        """The DequantizeLinear before and the QuantizeLinear after a float op of a QDQ model."""
        dq = self.producer.get(node.input[0])
        readers = self.readers.get(node.output[0], [])
        if dq is None or dq.op_type != "DequantizeLinear" or len(readers) != 1 \
                or readers[0].op_type != "QuantizeLinear":
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} in a quantized model is mapped "
                             "between a DequantizeLinear and a QuantizeLinear (an average of codes as "
                             "onnxruntime computes it); this one is not")
        return dq, readers[0]

    def _ort_run(self, nodes, in_name: str, out_name: str, x: np.ndarray, out_dtype) -> np.ndarray:
        """onnxruntime (default session options, as users run it) on ``nodes`` of this model, fed
        the codes ``x``: the probe reads float values through a QuantizeLinear and ends in a
        DequantizeLinear, as a quantized model does, so onnxruntime rewrites it as it rewrites the
        model (QDQ fusion into QLinear kernels, int8 QDQ turned into uint8 on x86, which moves the
        zero point and so the float32 rounding); the output codes are read back exactly."""
        from onnx import helper

        try:
            import onnxruntime  # noqa: F401  (missing: the error below names the extra)
        except ImportError:
            raise ModelError("an average of quantized codes is computed by onnxruntime: "
                             "pip install 'qhw[onnx]'") from None
        first, last = nodes[0], nodes[-1]
        s_in, z_in = first.input[1], first.input[2] if len(first.input) > 2 else ""
        ends = (last.input[1], last.input[2] if len(last.input) > 2 else "") \
            if last.op_type == "QuantizeLinear" else (last.input[3], last.input[4] if len(last.input) > 4 else "")
        names = {i for n in nodes for i in n.input if i} - {in_name}
        inits = [i for i in self.g.initializer if i.name in names]
        consts = [n for n in self.g.node if n.op_type == "Constant" and n.output[0] in names]
        nodes = [helper.make_node("QuantizeLinear", ["probe_x", s_in, z_in], [in_name], "probe_q"), *nodes,
                 helper.make_node("DequantizeLinear", [out_name, *ends], ["probe_y"], "probe_dq")]
        sx, zx = float(np.asarray(self.consts[s_in]).ravel()[0]), int(np.asarray(self.ints.get(z_in, 0)).ravel()[0])
        sy, zy = float(np.asarray(self.consts[ends[0]]).ravel()[0]), \
            int(np.asarray(self.ints.get(ends[1], 0)).ravel()[0])
        real = ((np.asarray(x, np.int64) - zx).astype(np.float32) * np.float32(sx)).astype(np.float32)
        graph = helper.make_graph(consts + nodes, "probe",
                                  [helper.make_tensor_value_info("probe_x", 1, list(x.shape))],
                                  [helper.make_tensor_value_info("probe_y", 1, None)], inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        model.ir_version = self.model_ir
        y = np.asarray(_ort_first(model, {"probe_x": real}, last.name, "run it on probe windows", True))
        return np.rint(y.astype(np.float64) / np.float32(sy)).astype(np.int64) + zy

    def _sum_codes(self, node, nodes, in_name: str, out_name: str, qp_in: QuantParams,
                   qp_out: QuantParams, kernel: list[int], image: list[int] | None, channels: int):
        """(S, output code, ambiguous) for every reachable window sum S of zero-point-free codes,
        by onnxruntime running ``nodes`` on windows of that sum: its QLinearAveragePool sums
        float32 dequantized values and divides in float32, its global average requantizes the
        integer sum in float32 (both not one exact rounding of S * s_in / (N * s_out)). Each
        sum is tried as 19 windows: evenly spread, the two orderings of the most lopsided one, and
        16 random ones; where they disagree the float32 order decides (ambiguous, noted), and
        the code most of them get is kept. image: the real spatial shape for a global average (one window
        per image and channel), else None (probe images of two windows, stride = kernel)."""
        from qhw import limits

        dt_in = dt_out = np.int64
        if max(qp_in.bits, qp_out.bits) > 16 or not qp_in.is_per_tensor or not qp_out.is_per_tensor:
            raise ModelError(f"ONNX node {node.name!r}: an average of codes needs per-tensor "
                             f"quantization of at most 16 bits on both sides, got {qp_in} and {qp_out}")
        taps = int(np.prod(kernel))
        z = int(qp_in.zero_point)
        lo, hi = qp_in.qmin - z, qp_in.qmax - z
        sums = np.arange(taps * lo, taps * hi + 1)
        limits.check("table_entries", int(sums.size), f"ONNX node {node.name!r}, window sums")
        limits.check("probe_codes", int(sums.size) * 19 * taps, f"ONNX node {node.name!r}, probe windows")
        even = np.floor_divide(sums, taps)[:, None] + (np.arange(taps)[None, :] < (sums % taps)[:, None])
        lop = np.empty((sums.size, taps), np.int64)
        rem = sums.copy()
        for i in range(taps):
            lop[:, i] = np.clip(rem - (taps - i - 1) * lo, lo, hi)
            rem = rem - lop[:, i]
        rng = np.random.default_rng(0)
        more = np.repeat(even, 16, axis=0)  # 16 random windows of each sum
        rows = np.arange(more.shape[0])
        for _ in range(12):  # random transfers between two taps keep the sum
            a, b = rng.integers(taps, size=(2, more.shape[0]))
            step = rng.integers(0, hi - lo + 1, size=more.shape[0])
            step = np.where(a == b, 0, np.minimum(step, np.minimum(hi - more[rows, a], more[rows, b] - lo)))
            more[rows, a] += step
            more[rows, b] -= step
        wins = np.concatenate([even, lop, lop[:, ::-1], more]) + z
        y = self._ort_windows(nodes, in_name, out_name, wins, kernel, image, channels, z, dt_in, dt_out)
        y = np.concatenate([y[:3 * sums.size].reshape(3, sums.size).T,
                            y[3 * sums.size:].reshape(sums.size, 16)], axis=1)  # (#sums, 19)
        ambiguous = np.any(y != y[:, :1], axis=1)
        code = y[:, 0].copy()
        for k in np.flatnonzero(ambiguous):  # the code most of the windows of that sum get
            vals, counts = np.unique(y[k], return_counts=True)
            code[k] = vals[np.argmax(counts)]
        return np.stack([sums, code, ambiguous.astype(np.int64)], axis=1)

    def _float32_posts(self, nodes, qp_out: QuantParams, taps: int) -> list:
        """Candidate forms of what onnxruntime does after the float32 window sum s (each a
        function of a float32 array to output codes): QLinearAveragePool (divide by N, by the
        output scale, add the zero point in float32, round half to even; on x86 an int8 model
        runs as uint8, its zero point moved by 128), or a float AveragePool then QuantizeLinear
        (the zero point added after rounding)."""
        f32 = np.float32
        n, ys, z = f32(taps), f32(qp_out.scale), int(qp_out.zero_point)
        lo, hi = qp_out.qmin, qp_out.qmax

        def fused(shift):
            return lambda s: np.clip(np.rint(((s / n).astype(f32) / ys).astype(f32) + f32(z + shift)),
                                     lo + shift, hi + shift).astype(np.int64) - shift

        def unfused(s):
            return np.clip(np.rint(((s / n).astype(f32) / ys).astype(f32)).astype(np.int64) + z, lo, hi)

        return [fused(0), fused(128) if qp_out.signed and qp_out.bits == 8 else fused(0), unfused]

    @staticmethod
    def _float32_orders(kernel: list[int], global_: bool) -> list:
        """Candidate orders of a float32 window sum (qhw.ops.fsum_pool ``order``), taps
        row-major: one after the other (onnxruntime's generic and NCHWc pools,
        QLinearAveragePool); for 2-D windows, column sums first (its vector pool); for a global
        average, 4, 8 or 16 lanes of every 4th, 8th or 16th tap, their halves added lane by lane
        down to one ((l0 + l2) + (l1 + l3) for four), then the rest one by one (its global pool:
        four lanes; its ReduceMean: eight on AVX2 and AVX-512, as measured)."""
        n = int(np.prod(kernel))
        seq = [[0, 1]] + [[n + i - 1, i + 1] for i in range(1, n - 1)] if n > 1 else []
        out = [seq]

        def chain(plan, items):
            cur = items[0]
            for it in items[1:]:
                plan.append([cur, it])
                cur = n + len(plan) - 1
            return cur

        if len(kernel) == 2 and n > 1:
            kh, kw = kernel
            plan: list = []
            cols = [chain(plan, [r * kw + c for r in range(kh)]) for c in range(kw)]
            chain(plan, cols)
            out.append(plan)
        for lanes in (4, 8, 16) if global_ else ():
            if n < 2 * lanes:
                continue
            plan = []
            body = n - n % lanes
            acc = [chain(plan, list(range(j, body, lanes))) for j in range(lanes)]
            while len(acc) > 1:  # halves added lane by lane
                half = len(acc) // 2
                for a, b in zip(acc[:half], acc[half:]):
                    plan.append([a, b])
                acc = list(range(n + len(plan) - half, n + len(plan)))
            chain(plan, acc + list(range(body, n)))
            out.append(plan)
        return out

    def _float32_form(self, node, nodes, in_name: str, out_name: str, qp_in: QuantParams,
                      qp_out: QuantParams, attrs: dict, shape: tuple, global_: bool):
        """(order, thresholds) of the float32 form of an average whose output is no function of
        the integer window sum (qhw.ops.fsum_pool), or None (the integer form stays, noted).
        The runtime runs ``nodes`` (the model's own pool node) on probe images of the model's
        own shape (its kernel choice depends on it): random codes, and windows of codes one
        apart (where float32 decides the ties). A candidate sum order of
        :meth:`_float32_orders` and a form of :meth:`_float32_posts` must give the runtime's
        code on every probe output; then the thresholds are the smallest float32 sums giving
        each output code above the lowest (bisection over float32 values in the order of
        :func:`qhw.ops.fsum_pool.order_key`)."""
        from qhw.ops.conv import windows
        from qhw.ops.fsum_pool import MAX_SUM, key_value, order_key

        f32 = np.float32
        kernel = list(attrs["kernel_size"])
        dims = len(kernel)
        pads = attrs["padding"]
        if isinstance(pads, str) or max(qp_in.bits, qp_out.bits) > 16:
            return None
        z_in = int(qp_in.zero_point)
        lo, hi = qp_in.qmin - z_in, qp_in.qmax - z_in
        per = int(np.prod(shape))
        outs = shape[-1] if global_ else max(1, per // int(np.prod(kernel)))
        n_img = max(2, min(-(-8000 // outs), -(-2_000_000 // per)))  # ~8,000 outputs, <= 2M codes
        rng = np.random.default_rng(0)
        d = rng.integers(lo, hi + 1, size=(n_img,) + tuple(shape))
        base = rng.integers(lo, hi, size=(n_img // 2,) + tuple(shape))
        d[: n_img // 2] = base + rng.integers(0, 2, size=base.shape)  # codes one apart: ties
        x_cf = np.moveaxis(d, -1, 1) + z_in  # (N, C, *spatial) codes
        vals = (d.astype(f32) * f32(qp_in.scale)).astype(f32)
        stride = list(attrs.get("stride") or kernel)
        win = windows(vals, None, kernel, stride, (1,) * dims, list(pads), f32(0.0))
        win = win.reshape(win.shape[:1 + dims] + (-1, win.shape[-1]))
        y = np.asarray(self._ort_run(nodes, in_name, out_name, x_cf, None), np.int64)
        if y.size != int(np.prod(win.shape[:1 + dims])) * shape[-1]:
            return None
        y = np.moveaxis(y.reshape((n_img, shape[-1]) + win.shape[1:1 + dims]), 1, -1)  # (N, *out, C)
        taps = [win[..., t, :].astype(f32) for t in range(win.shape[-2])]
        found = None
        for order in self._float32_orders(kernel, global_):
            v = list(taps)
            for a, b in order:
                v.append((v[a] + v[b]).astype(f32))
            for post in self._float32_posts(nodes, qp_out, len(taps)):
                if v[-1].shape == y.shape and np.array_equal(post(v[-1]), y):
                    found = order, post
                    break
            if found:
                break
        if found is None:
            return None
        order, post = found
        top = float(np.max(np.abs(vals.astype(np.float64)), initial=1.0)) * len(taps) * 2 + 1
        if top >= MAX_SUM:
            return None
        z = int(qp_out.zero_point)
        levels = np.arange(qp_out.qmin - z + 1, qp_out.qmax - z + 1)
        k_max = int(order_key(np.array([top], f32))[0])
        lo_k, hi_k = np.full(levels.size, -k_max - 1), np.full(levels.size, k_max + 1)
        while np.any(hi_k - lo_k > 1):
            mid = (lo_k + hi_k) // 2
            ok = post(key_value(mid)) - z >= levels
            hi_k, lo_k = np.where(ok, mid, hi_k), np.where(ok, lo_k, mid)
        return order, key_value(hi_k).astype(np.float64), y.size

    def _ort_windows(self, nodes, in_name, out_name, wins, kernel, image, channels, z, dt_in, dt_out):
        """onnxruntime's output code of each window of codes ``wins`` (#windows, taps)."""
        count, taps = wins.shape
        if image is None:
            per = 2  # windows per probe image (one window would be a global average)
            n_img = -(-count // per)
            wins = np.concatenate([wins, np.full((n_img * per - count, taps), z)])
            k = list(kernel)
            w = wins.reshape(n_img, per, *k)  # (img, window, *kernel)
            x = np.moveaxis(w, 1, -2 if len(k) == 2 else -1)  # windows side by side on the last axis
            x = x.reshape(n_img, 1, *k[:-1], per * k[-1])
        else:
            n_img = -(-count // channels)
            wins = np.concatenate([wins, np.full((n_img * channels - count, taps), z)])
            x = wins.reshape(n_img, channels, *image)
        y = self._ort_run(nodes, in_name, out_name, x.astype(dt_in), dt_out).reshape(-1)[:count]
        return y.astype(np.int64)

    def _average(self, node, t: _Tensor, attrs: dict, probe, in_name: str, out_name: str,
                 qp_out: QuantParams, global_: bool, what: str) -> _Tensor:
        shape = self._shape_of(t.name)
        if not t.channels_last or len(shape) not in (2, 3):
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} needs a 1-D or 2-D channels-first "
                             f"tensor (N, C, [H,] W), got {node.input[0]!r}")
        qp_in = self.b.graph.node(t.name).qparams
        if qp_in is None:
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} of {node.input[0]!r}, which is "
                             "not quantized")
        dims = len(shape) - 1
        kernel = list(attrs["kernel_size"])
        edges = None if global_ else self._edge_divisors(node, attrs, shape)
        if edges is not None:
            return self._edge_average(node, t, edges, probe, in_name, out_name, qp_in, qp_out, shape, what)
        rows = self._sum_codes(node, probe, in_name, out_name, qp_in, qp_out, kernel,
                               [shape[-1 - dims + i] for i in range(dims)] if global_ else None, shape[-1])
        form = None
        if rows[:, 2].any():  # no function of the integer sum: the float32 sum itself, if found
            real = [node if n.name == node.name else n for n in probe]
            form = self._float32_form(node, real, in_name, out_name, qp_in, qp_out, attrs, shape, global_)
        params = {"sum_codes": rows} if form is None else \
            {"f32_thresholds": form[1], "f32_order": np.asarray(form[0], np.int64).reshape(-1, 2)}
        name = self.b.node(self.name_for(node), f"avgpool{dims}d", [t.name], attrs, params)
        self.b.graph.node(name).qparams = qp_out
        how = f"output codes of all {len(rows)} window sums computed by {self.runtime}" if form is None \
            else f"{self.runtime}'s float32 window sum reproduced, equal on {form[2]} probe outputs"
        self._set(node, _Tensor(name, True), f"avgpool{dims}d ({what}; {how})")
        return self.vals[node.output[0]]

    def _window_attrs(self, node, dims: int) -> dict:
        attrs = self._spatial_attrs(node, dims)
        if any(d != 1 for d in self.attr(node, "dilations", [1] * dims)):
            raise ModelError(f"ONNX node {node.name!r}: AveragePool with dilations is not supported")
        return attrs

    def _edge_divisors(self, node, attrs: dict, shape: tuple):
        """(attrs, divisors) of a window average whose divisor depends on the window position
        (count_include_pad=0 with padding, ceil_mode=1), else None. ``divisors`` (one per output
        position, row-major) is measured: onnxruntime's own float AveragePool with the node's
        attributes on an image of ones gives real / divisor per position (real: the window's
        elements inside the image). ``attrs`` pads the end further so the window walk yields
        onnxruntime's output size (a ceil_mode window hanging over the edge sums only the
        elements inside: the padding is zero codes)."""
        from onnx import helper

        from qhw.ops.conv import windows

        ceil = bool(self.attr(node, "ceil_mode", 0))
        kernel, dims = list(attrs["kernel_size"]), len(attrs["kernel_size"])
        stride = list(attrs.get("stride") or kernel)
        spatial = list(shape[:-1])
        pads = attrs["padding"]
        if isinstance(pads, str):  # SAME_UPPER: the extra pixel at the end
            total = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(spatial, kernel, stride)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
        pads = [int(p) for p in pads]
        if not ceil and (not any(pads) or self.attr(node, "count_include_pad", 0)):
            return None
        keep = {a.name: helper.get_attribute_value(a) for a in node.attribute
                if a.name in ("ceil_mode", "count_include_pad")}
        pool = helper.make_node("AveragePool", ["x"], ["y"], "edges", kernel_shape=kernel, strides=stride,
                                pads=pads, **keep)
        y = self._float_run(node, pool, np.ones([1, 1] + spatial, np.float32))
        out = list(y.shape[2:])
        extra = [max(0, (o - 1) * s + k - (n + pads[i] + pads[i + dims]))
                 for i, (o, n, k, s) in enumerate(zip(out, spatial, kernel, stride))]
        pads = pads[:dims] + [p + e for p, e in zip(pads[dims:], extra)]
        real = windows(np.ones([1] + spatial + [1]), None, kernel, stride, (1,) * dims, pads, 0.0)
        real = real.reshape(real.shape[1:1 + dims] + (-1,)).sum(axis=-1)
        if list(real.shape) != out:
            raise ModelError(f"ONNX node {node.name!r}: onnxruntime's output size {out} of this "
                             f"AveragePool is no window walk of the input {spatial}")
        ratio = y.reshape(out).astype(np.float64)
        divisors = np.rint(real / np.where(ratio > 0, ratio, 1.0)).astype(np.int64)
        if np.any(ratio <= 0) or np.any(np.abs(real / divisors - ratio) > 1e-6) or divisors.max() > np.prod(kernel):
            raise ModelError(f"ONNX node {node.name!r}: the divisors onnxruntime uses in this "
                             "AveragePool are not whole window counts")
        taps = int(np.prod(kernel))
        if np.all(divisors == taps) and not any(extra):
            return None
        # a quantized kernel may count the overhang otherwise than the float one: candidates
        # (float rule, the elements inside, the whole kernel) decided by the runtime's codes
        candidates = [divisors.reshape(-1), real.reshape(-1).astype(np.int64)]
        if self.attr(node, "count_include_pad", 0):
            candidates.append(np.full(divisors.size, taps, np.int64))
        return {**attrs, "padding": pads}, candidates

    def _pick_divisors(self, node, attrs, candidates, probe, in_name, out_name, qp_in, qp_out, shape):
        """(divisors, window sums, codes): the candidate divisor map whose exact averages are
        nearest the runtime's codes of the model's own pool node on random images (fewest
        differing outputs), with those images' window sums (N, C, positions) and codes."""
        from qhw.ops.conv import windows

        uniq = []
        for c in candidates:
            if not any(np.array_equal(c, u) for u in uniq):
                uniq.append(c)
        dims = len(shape) - 1
        z_in = int(qp_in.zero_point)
        rng = np.random.default_rng(0)
        n_img = max(2, min(64, 400_000 // int(np.prod(shape))))  # bounded memory: <= ~400k codes
        d = rng.integers(qp_in.qmin - z_in, qp_in.qmax - z_in + 1, size=(n_img,) + tuple(shape))
        real = [node if n.name == node.name else n for n in probe]
        y = np.asarray(self._ort_run(real, in_name, out_name, np.moveaxis(d, -1, 1) + z_in, None), np.int64)
        win = windows(d.astype(np.float64), None, list(attrs["kernel_size"]), list(attrs.get("stride") or
                      attrs["kernel_size"]), (1,) * dims, list(attrs["padding"]), 0.0)
        sums = win.reshape(win.shape[:1 + dims] + (-1, win.shape[-1])).sum(axis=-2)  # (N, *out, C)
        sums = np.moveaxis(sums, -1, 1).reshape(sums.shape[0], sums.shape[-1], -1)  # (N, C, positions)
        if y.size != sums.size:
            raise ModelError(f"ONNX node {node.name!r}: onnxruntime's output size of this AveragePool "
                             "is no window walk of its input")
        y = y.reshape(sums.shape)
        best = None
        for c in uniq:
            want = np.clip(np.rint(sums * float(qp_in.scale) / (c * float(qp_out.scale))) + int(qp_out.zero_point),
                           qp_out.qmin, qp_out.qmax)
            miss = int(np.count_nonzero(want != y))
            if best is None or miss < best[0]:
                best = miss, c
        return best[1], sums.astype(np.int64), y

    def _float_run(self, node, pool, x: np.ndarray) -> np.ndarray:
        """onnxruntime's float ``pool`` node (one input "x", one output "y") on ``x``."""
        from onnx import helper

        try:
            import onnxruntime  # noqa: F401  (missing: the error below names the extra)
        except ImportError:
            raise ModelError(f"ONNX node {node.name!r}: the divisors of this AveragePool are measured "
                             "by onnxruntime: pip install 'qhw[onnx]'") from None

        graph = helper.make_graph([pool], "edges", [helper.make_tensor_value_info("x", 1, list(x.shape))],
                                  [helper.make_tensor_value_info("y", 1, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        model.ir_version = 9
        return np.asarray(_ort_first(model, {"x": x}, node.name, "run its window walk", True))

    def _edge_average(self, node, t: _Tensor, edges, probe, in_name: str, out_name: str,
                      qp_in: QuantParams, qp_out: QuantParams, shape: tuple, what: str) -> _Tensor:
        """A window average whose divisor depends on the position (corner, edge, interior): the
        exact window sum (zero-padded codes), then per divisor d the output code onnxruntime
        gives each reachable sum, probed as an unpadded window of d taps of the model's own pool
        node (``params["class_codes"]``, one (S, code, ambiguous) table per divisor over every
        sum of the whole kernel, sums a window of d taps cannot reach clipped to the ones it
        can), and ``params["element_class"]`` (the divisor class of each output element, channels
        last)."""
        attrs, candidates = edges
        divisors, seen, codes = self._pick_divisors(node, attrs, candidates, probe, in_name, out_name,
                                                    qp_in, qp_out, shape)
        dims = len(shape) - 1
        taps = int(np.prod(attrs["kernel_size"]))
        z = int(qp_in.zero_point)
        lo, hi = qp_in.qmin - z, qp_in.qmax - z
        classes, position = np.unique(divisors, return_inverse=True)
        tables, ambiguous = [], 0
        for d in classes.tolist():
            kern = [1] * (dims - 1) + [int(d)]
            nodes = [self._probe_window(node, kern) if n.name == node.name else n for n in probe]
            rows = self._sum_codes(node, nodes, in_name, out_name, qp_in, qp_out, kern, None, shape[-1])
            sums = np.arange(taps * lo, taps * hi + 1)
            at = np.clip(sums, d * lo, d * hi) - d * lo
            tables.append(np.stack([sums, rows[at, 1], rows[at, 2]], axis=1))
            ambiguous += int(np.count_nonzero(rows[:, 2]))
        table = np.stack(tables)[:, :, 1].astype(np.int64)
        got = table[position.reshape(-1)[None, None, :], seen - taps * lo]
        miss = int(np.count_nonzero(got != codes))
        if miss > EDGE_AMBIGUOUS * codes.size:
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} with a divisor by position "
                             f"({', '.join(map(str, classes.tolist()))}): on {miss} of {codes.size} random "
                             f"outputs {self.runtime}'s float32 sum order gives another code than any window "
                             f"of that sum mostly gets (more than {EDGE_AMBIGUOUS:.1%}); qhw's float32 form "
                             "(fsum_pool) has no per-position divisors")
        params = {"class_codes": np.stack(tables), "class_divisors": classes.astype(np.int64),
                  "element_class": np.repeat(position.astype(np.int64).reshape(-1), shape[-1])}
        name = self.b.node(self.name_for(node), f"avgpool{dims}d", [t.name], attrs, params)
        self.b.graph.node(name).qparams = qp_out
        how = (f"divisor by position: {', '.join(map(str, classes.tolist()))} elements; output codes of "
               f"every window sum per divisor computed by {self.runtime}")
        if ambiguous:
            how += (f"; {ambiguous} sums decided by float32 order (the code most windows get; "
                    f"{miss} of {codes.size} random probe outputs differ)")
        self._set(node, _Tensor(name, True), f"avgpool{dims}d ({what}; {how})")
        return self.vals[node.output[0]]

    @staticmethod
    def _probe_window(node, kernel):
        """A copy of a pooling node over non-overlapping, unpadded windows of its kernel."""
        from onnx import helper

        keep = {a.name: helper.get_attribute_value(a) for a in node.attribute
                if a.name not in ("strides", "pads", "auto_pad", "ceil_mode", "kernel_shape")}
        return helper.make_node(node.op_type, list(node.input), list(node.output), node.name,
                                domain=node.domain or None, kernel_shape=list(kernel),
                                strides=list(kernel), **keep)

    def _global(self, node, t: _Tensor) -> dict:
        shape = self._shape_of(t.name)
        spatial = list(shape[:-1])
        return {"kernel_size": spatial, "stride": spatial, "padding": [0] * (2 * len(spatial))}

    def op_AveragePool(self, node):
        """DequantizeLinear -> AveragePool -> QuantizeLinear (onnxruntime fuses it into
        QLinearAveragePool): the exact window sum, then the output code onnxruntime gives that
        sum (qhw.passes.lower_affine.op_avg_pool)."""
        dq, q = self._qdq_around(node)
        t = self.tensor(node, node.input[0])
        dims = len(self.attr(node, "kernel_shape"))
        attrs = self._window_attrs(node, dims)
        qp_out, _ = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        if self._covers_image(t, attrs):
            return self._average(node, t, attrs, [dq, node, q], dq.input[0], q.output[0], qp_out, True,
                                 "a global average")
        probe = self._probe_window(node, attrs["kernel_size"])
        self._average(node, t, attrs, [dq, probe, q], dq.input[0], q.output[0], qp_out, False, "window average")

    def _covers_image(self, t: _Tensor, attrs: dict) -> bool:
        """True when the window is the whole unpadded image (onnxruntime then takes its global
        average path)."""
        shape = self._shape_of(t.name)
        pads = attrs["padding"]
        return list(attrs["kernel_size"]) == list(shape[:-1]) and not isinstance(pads, str) and not any(pads)

    def op_GlobalAveragePool(self, node):
        dq, q = self._qdq_around(node)
        t = self.tensor(node, node.input[0])
        qp_out, _ = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        self._average(node, t, self._global(node, t), [dq, node, q], dq.input[0], q.output[0], qp_out,
                      True, "global average")

    def op_ReduceMean(self, node):
        """ReduceMean over exactly the spatial axes between DequantizeLinear and QuantizeLinear:
        a global average (then a flatten when keepdims=0)."""
        dq, q = self._qdq_around(node)
        t = self.tensor(node, node.input[0])
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        axes = self.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = np.asarray(self.const(node, node.input[1])).ravel().tolist()
        spatial = list(range(2, rank))
        if not t.channels_last or axes is None or sorted(int(a) % rank for a in axes) != spatial:
            raise ModelError(f"ONNX node {node.name!r}: ReduceMean is supported over exactly the spatial "
                             f"axes {spatial} of a channels-first tensor, got axes {axes}")
        qp_out, _ = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
        out = self._average(node, t, self._global(node, t), [dq, node, q], dq.input[0], q.output[0],
                            qp_out, True, "mean over the spatial axes")
        if not self.attr(node, "keepdims", 1):
            name = self.b.flatten(self.name_for(node, "_flat"), out.name)
            self.b.graph.node(name).qparams = qp_out
            self.vals[node.output[0]] = _Tensor(name, False, np.arange(shape[-1]))

    def _qlinear_pool(self, node, global_: bool):
        i = list(node.input) + [""] * (5 - len(node.input))
        if self.attr(node, "channels_last", 0):
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} with channels_last=1 is not "
                             "supported (qhw maps channels-first tensors)")
        t = self.expect(node, i[0], i[1], i[2] or None)
        qp_out, _ = self.qparams(node, i[3], i[4] or None, default_kind=(8, bool(
            self.b.graph.node(t.name).qparams.signed)))
        if global_:
            return self._average(node, t, self._global(node, t), [node], i[0], node.output[0], qp_out,
                                 True, "global average")
        dims = len(self.attr(node, "kernel_shape"))
        attrs = self._window_attrs(node, dims)
        if self._covers_image(t, attrs):
            return self._average(node, t, attrs, [node], i[0], node.output[0], qp_out, True, "global average")
        self._average(node, t, attrs, [self._probe_window(node, attrs["kernel_size"])], i[0],
                      node.output[0], qp_out, False, "window average")

    def op_QLinearAveragePool(self, node):
        self._qlinear_pool(node, False)

    def op_QLinearGlobalAveragePool(self, node):
        self._qlinear_pool(node, True)

    # ------------------------------------------------------------------ data movement (issue 17.4)
    def _qhw_axes(self, t: _Tensor, rank: int) -> list[int]:
        """ONNX axis of each qhw axis of tensor t (ONNX rank ``rank``, batch first)."""
        return list(range(2, rank)) + [1] if t.channels_last else list(range(1, rank))

    def _transpose_tensor(self, node):
        t = self.tensor(node, node.input[0])
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        perm = self.attr(node, "perm")
        perm = [int(p) for p in perm] if perm is not None else list(range(rank))[::-1]
        if sorted(perm) != list(range(rank)) or perm[0] != 0:
            raise ModelError(f"ONNX node {node.name!r}: Transpose perm {perm} must keep the batch axis "
                             f"first (a permutation of {rank} axes)")
        onnx_of = self._qhw_axes(t, rank)
        qhw_of = {a: j for j, a in enumerate(onnx_of)}
        qperm = [qhw_of[perm[onnx_of[j]]] for j in range(rank - 1)]
        if qperm == list(range(rank - 1)):
            self.vals[node.output[0]] = t
            self.qreport.add(node.name, node.op_type, None, "no data movement in qhw's layout")
            return
        name = self.b.node(self.name_for(node), "transpose", [t.name], {"perm": qperm})
        self.b.graph.node(name).qparams = self.b.graph.node(t.name).qparams
        self._set(node, _Tensor(name, rank > 2), "transpose")

    def op_Pad(self, node):
        """Pad of a quantized tensor: constant (with the real value 0: code z, or 0.0 between
        DequantizeLinear and QuantizeLinear), edge or reflect."""
        t = self.tensor(node, node.input[0])
        src = self.b.graph.node(t.name)
        if src.qparams is None:
            raise ModelError(f"ONNX node {node.name!r}: Pad of {node.input[0]!r}, which is not quantized")
        mode = self.attr(node, "mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        ins = list(node.input) + [""] * 4
        pads = self.attr(node, "pads")
        if pads is None:
            pads = np.asarray(self.ints.get(ins[1], self.consts.get(ins[1])) if ins[1] else None)
        if pads is None or np.ndim(pads) != 1 or ins[3]:
            raise ModelError(f"ONNX node {node.name!r}: Pad needs constant pads (and no axes input)")
        value = self.attr(node, "value", 0.0)
        if ins[2]:
            c = np.asarray(self.ints.get(ins[2], self.const(node, ins[2])))
            # integer codes (QOperator: the zero point is the real 0), else a real value (QDQ)
            value = float(c.ravel()[0]) - float(src.qparams.zero_point) if c.dtype.kind in "iu" \
                else float(c.ravel()[0])
        pads = [int(p) for p in np.asarray(pads).ravel()]
        fill = 0
        if mode == "constant" and value != 0:
            t, fill = self._pad_code(node, t, src.qparams, value, ins[2])
            src = self.b.graph.node(t.name)
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        if len(pads) != 2 * rank or pads[0] or pads[rank]:
            raise ModelError(f"ONNX node {node.name!r}: Pad pads {pads} must give {2 * rank} values and "
                             "leave the batch axis unpadded")
        onnx_of = self._qhw_axes(t, rank)
        qpads = [pads[a] for a in onnx_of] + [pads[rank + a] for a in onnx_of]
        attrs = {"pads": qpads, "mode": mode}
        if fill:
            attrs["value"] = fill
        name = self.b.node(self.name_for(node), "pad", [t.name], attrs)
        self.b.graph.node(name).qparams = src.qparams
        self._set(node, _Tensor(name, t.channels_last, t.perm),
                  f"pad ({mode}" + (f", code {fill + int(src.qparams.zero_point)})" if fill else ")"))

    def _pad_code(self, node, t: _Tensor, qp: QuantParams, value: float, value_name: str) -> tuple[_Tensor, int]:
        """The tensor a constant Pad pads and the zero-point-free code it writes. QOperator (an
        integer constant input): the code itself. A real value between a DequantizeLinear and a
        QuantizeLinear: what onnxruntime computes, by running those very nodes on every input
        code (the padded code, and, when the QuantizeLinear's parameters differ from the input's,
        each input code's requantized code: a code table before the pad). A real value elsewhere
        must be a code of the tensor exactly."""
        c = np.asarray(self.ints.get(value_name, 0.0)) if value_name else np.asarray(0.0)
        if value_name and c.dtype.kind in "iu":
            return t, int(round(value))  # value = code - zero point
        readers = self.readers.get(node.output[0], [])
        dq = self.producer.get(node.input[0])
        q = readers[0] if len(readers) == 1 and readers[0].op_type == "QuantizeLinear" else None
        if q is not None and dq is not None and dq.op_type == "DequantizeLinear":
            qp_out, axis = self.qparams(q, q.input[1], q.input[2] if len(q.input) > 2 else None)
            if axis is None and qp_out.is_per_tensor and qp.is_per_tensor:
                table, code = self._ort_pad(node, dq, q, qp, qp_out)
                if qp_out != qp or not np.array_equal(table, np.arange(qp.qmin, qp.qmax + 1)):
                    name = self.b.node(self.name_for(node, "_requant"), "code_table", [t.name],
                                       params={"table": table})
                    self.b.graph.node(name).qparams = qp_out
                    t = _Tensor(name, t.channels_last, t.perm)
                return t, code - int(qp_out.zero_point)
        d = value / float(np.float32(qp.scale))
        if d != np.rint(d) or not qp.qmin <= d + qp.zero_point <= qp.qmax \
                or np.float32(np.float32(d) * np.float32(qp.scale)) != np.float32(value):
            raise ModelError(f"ONNX node {node.name!r}: constant Pad value {value} is not a code of its "
                             f"input {node.input[0]!r} ({qp}); qhw maps it between a DequantizeLinear and "
                             "a QuantizeLinear, or as an exact code")
        return t, int(d)

    def _ort_pad(self, node, dq, q, qp: QuantParams, qp_out: QuantParams) -> tuple[np.ndarray, int]:
        """onnxruntime on DequantizeLinear -> Pad -> QuantizeLinear fed every input code (as a
        batch of single-element tensors): each code's output code and the padded code."""
        from onnx import helper

        types = {(8, True): (3, np.int8), (8, False): (2, np.uint8), (16, True): (5, np.int16),
                 (16, False): (4, np.uint16)}
        kind, out_kind = types.get((qp.bits, qp.signed)), types.get((qp_out.bits, qp_out.signed))
        rank = len(self._shape_of(self.tensor(node, node.input[0]).name)) + 1
        if kind is None or out_kind is None:
            raise ModelError(f"ONNX node {node.name!r}: a constant Pad value is computed for 8- or "
                             f"16-bit codes, got {qp} and {qp_out}")
        made = [n for i in node.input[1:] if i and self._is_const(i) for n in self._const_nodes(i)]
        nodes = [n for n in self.g.node if any(n is m for m in made)] + [dq, node, q]
        names = {i for n in nodes for i in n.input if i} - {dq.input[0]}
        inits = [i for i in self.g.initializer if i.name in names]
        consts = [n for n in self.g.node if n.op_type == "Constant" and n.output[0] in names]
        graph = helper.make_graph(consts + nodes, "pad_probe",
                                  [helper.make_tensor_value_info(dq.input[0], kind[0], [None] + [1] * (rank - 1))],
                                  [helper.make_tensor_value_info(q.output[0], out_kind[0], None)], inits)
        model = helper.make_model(graph, opset_imports=list(self.model_opsets))
        model.ir_version = self.model_ir
        codes = np.arange(qp.qmin, qp.qmax + 1)
        y = np.asarray(_ort_first(model, {dq.input[0]: codes.astype(kind[1]).reshape([-1] + [1] * (rank - 1))},
                                  node.name, "run the Pad"))
        pads = self.attr(node, "pads")
        pads = [int(p) for p in np.asarray(pads if pads is not None else self.ints.get(
            node.input[1], self.consts.get(node.input[1]))).ravel()]
        if y.ndim != rank or y.shape[0] != codes.size or pads[0] or pads[rank]:
            raise ModelError(f"ONNX node {node.name!r}: onnxruntime's padded probe has shape {y.shape}")
        inside = np.zeros(y.shape[1:], bool)
        inside[tuple(slice(p, p + 1) for p in pads[1:rank])] = True
        table = y.reshape(codes.size, -1)[:, inside.ravel()][:, 0].astype(np.int64)
        padded = y.reshape(codes.size, -1)[:, ~inside.ravel()]
        if padded.size == 0 or np.any(padded != padded.ravel()[0]):
            raise ModelError(f"ONNX node {node.name!r}: onnxruntime's padded codes are not one constant")
        return table, int(padded.ravel()[0])

    def op_Squeeze(self, node):
        """Squeeze of the size-1 spatial axes of a channels-first tensor: a flatten."""
        t = self.tensor(node, node.input[0])
        shape = self._shape_of(t.name)
        rank = len(shape) + 1
        axes = self.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = np.asarray(self.const(node, node.input[1])).ravel().tolist()
        spatial = list(range(2, rank))
        ok = t.channels_last and all(d == 1 for d in shape[:-1]) and (
            axes is None and shape[-1] > 1 or axes is not None and sorted(int(a) % rank for a in axes) == spatial)
        if not ok:
            raise ModelError(f"ONNX node {node.name!r}: Squeeze is supported for the size-1 spatial axes "
                             f"{spatial} of a channels-first tensor, got axes {axes} of {node.input[0]!r}")
        self._flatten_to(node, t)
        self._keep_qparams(node)

    def op_Unsqueeze(self, node):
        """Unsqueeze of a (batch, C) tensor to (batch, C, 1[, 1]): a reshape to channels-last."""
        t = self.tensor(node, node.input[0])
        shape = self._shape_of(t.name)
        axes = self.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = np.asarray(self.const(node, node.input[1])).ravel().tolist()
        n = len(axes or [])
        rank = 2 + n
        identity = t.perm is None or np.array_equal(np.asarray(t.perm), np.arange(len(t.perm)))
        if t.channels_last or len(shape) != 1 or n not in (1, 2) or not identity \
                or sorted(int(a) % rank for a in axes) != list(range(2, rank)):
            raise ModelError(f"ONNX node {node.name!r}: Unsqueeze is supported from (batch, C) to "
                             f"(batch, C, 1[, 1]), got axes {axes} of {node.input[0]!r}")
        name = self.b.node(self.name_for(node), "reshape", [t.name], {"shape": [1] * n + [shape[0]]})
        self.b.graph.node(name).qparams = self.b.graph.node(t.name).qparams
        self._set(node, _Tensor(name, True), "reshape")

for _op in TABLE_OPS:
    setattr(_QdqImporter, "op_" + _op, _QdqImporter.op_table)
for _op in QLINEAR_TABLE_OPS:
    setattr(_QdqImporter, "op_" + _op, _QdqImporter.op_qlinear_table)


def is_quantized_onnx(model) -> bool:
    """True when the model has QDQ or QOperator nodes."""
    return any(n.op_type in QDQ_OPS + QOPERATOR_OPS for n in model.graph.node)


def read_onnx(source: str | Path | Any):
    """An onnx.ModelProto from a path (checked) or the proto itself; ModelError for a bad file."""
    onnx, _ = _onnx()
    if not isinstance(source, (str, Path)):
        check_onnx_names(source)
        return source
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"ONNX file {str(path)!r} does not exist")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ModelError(f"cannot read ONNX file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    check_onnx_names(model)  # before the checker, whose messages quote names raw
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        # custom-domain nodes (QONNX Quant ...) may lack an opset import the checker insists on
        if not any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
            raise ModelError(f"invalid ONNX file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    return model


def import_qdq(source: str | Path | Any, *, exact: bool = False) -> tuple[Graph, MappingReport]:
    """The lowered integer graph of a QDQ/QOperator ONNX model and its mapping report. exact:
    refuse a folded float bias (BatchNormalization, constant Add/Sub after a MAC) that is no
    short binary fraction of the accumulator LSB instead of rounding it (noted)."""
    from qhw.frontends import host

    model, prefixes, suffixes = host.split_host(read_onnx(source), ("QuantizeLinear",), ("DequantizeLinear",))
    imp = _QdqImporter(model)
    affine = imp.run()
    trace: dict[str, list[str]] = {}
    graph = lower_affine(AffineGraph(affine, imp.weights, bias_codes=imp.bias_codes,
                                     post_scale=imp.post_scale, multiplier="float32", exact=exact,
                                     reference=imp.reference, merge_multiplier="float32"),
                         trace)
    imp.qreport.notes = in_output_lsbs(graph, [n for n in graph.notes if "narrower than lossless" not in n])
    imp.qreport.describe(graph, trace)
    host.finish(graph, prefixes, suffixes, imp.qreport, imp.vals)
    return graph, imp.qreport


def load_qdq(source: str | Path | Any, *, config=None, default=None,
             report: MappingReport | None = None, exact: bool = False) -> Graph:
    """:func:`import_qdq` as a prepared graph (config/default as for qhw.passes.prepare; a config
    that narrows formats makes the graph differ from onnxruntime, and is noted)."""
    graph, rep = import_qdq(source, exact=exact)
    return deliver(graph, rep, report, config, default)


__all__ = ["import_qdq", "load_qdq", "is_quantized_onnx", "read_onnx", "SUPPORTED"]


def _ort_first(model, feeds: dict, culprit: str, what: str, one_thread: bool = False):
    """onnxruntime's first output of the probe ``model`` on ``feeds`` (CPU, warnings off; with
    ``one_thread`` no thread pool: the same kernels, nothing to start on a busy host). Any
    failure is one ModelError: ``ONNX node <culprit>: onnxruntime could not <what>: ...``."""
    import onnxruntime as ort

    try:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if one_thread:
            so.intra_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)[0]
    except Exception as exc:  # onnxruntime raises its own types
        raise ModelError(f"ONNX node {culprit!r}: onnxruntime could not {what}: "
                         f"{str(exc).splitlines()[0][:200]}") from None
