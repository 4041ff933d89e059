"""input and output: the graph's ports."""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register


ENCODINGS = ("fixed", "affine")


def _check_encoding(node) -> None:
    enc = node.attrs["encoding"]
    if enc not in ENCODINGS:
        raise ModelError(f"{node.op} {node.name!r}: encoding {enc!r} is not one of {ENCODINGS}")
    if enc == "affine" and node.qparams is None:
        raise ModelError(f"{node.op} {node.name!r}: encoding 'affine' needs QuantParams on the node")


@register
class Input(OpDef):
    """A graph input. attrs: shape (without batch); encoding: how real values become codes —
    "fixed" (the result format's quantize, default) or "affine" (the node's QuantParams, as
    onnxruntime's QuantizeLinear: d = clamp(rint(fl32(x) / fl32(s)), qmin - z, qmax - z), the
    zero-point-free code of a lowered affine graph; ``quantizer`` "torch" rounds as PyTorch's
    quantize_per_tensor, see :func:`quantize_inputs_of`). Its ``result`` format must be given."""
    traits = frozenset({Trait.IO})

    name = "input"
    arity = 0
    hls4ml_class, hls4ml_names, hls4ml_slots = "Input", ("inputlayer",), ("result",)
    required = ("shape",)
    attrs = {"encoding": "fixed"}
    #: host: float steps the host runs on the user's values first (qhw.ops.host);
    #: quantizer: how an affine input's real values become codes (absent: onnxruntime's)
    optional_attrs = ("host", "quantizer")
    QUANTIZERS = ("onnxruntime", "torch", "bipolar")

    def check(self, node):
        super().check(node)
        quantizer = node.attrs.get("quantizer")
        if quantizer is not None:
            if quantizer not in self.QUANTIZERS:
                raise ModelError(f"input {node.name!r}: quantizer {quantizer!r} is not one of "
                                 f"{', '.join(self.QUANTIZERS)}")
        _check_encoding(node)
        if "host" in node.attrs:
            from qhw.ops import host

            host.check(node.attrs["host"], f"input {node.name!r}", True)
        shape = node.attrs["shape"]
        if (not isinstance(shape, (list, tuple))
                or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
                           for d in shape)):
            raise ModelError(f"input {node.name!r}: shape {shape!r} is not a list of integers >= 1 "
                             "(the shape of one sample, without the batch axis)")

    def encode(self, node, x) -> np.ndarray:
        """Raw codes of the real input values ``x`` (after the host steps, if any)."""
        if "host" in node.attrs:
            from qhw.ops import host

            x = host.apply(node.attrs["host"]["steps"], x)
        if node.attrs["encoding"] == "affine":
            return quantize_inputs_of(node, x)
        return node.formats["result"].quantize(x)

    def infer_shape(self, node, in_shapes):
        return tuple(int(d) for d in node.attrs["shape"])

    def infer_formats(self, node, in_fmts, ctx):
        fmt = ctx.lookup(node, "result") or node.formats.get("result")  # the config wins
        if fmt is None:
            raise ModelError(f"input {node.name!r} has no format: give it one (e.g. "
                             "'ap_fixed<16,6>') in the model or the config")
        node.formats["result"] = fmt

    def golden(self, node, inputs, in_fmts, ctx):  # pragma: no cover - fed by the executor
        raise AssertionError("inputs are fed by the executor")

    def float_eval(self, node, inputs):  # pragma: no cover
        raise AssertionError("inputs are fed by the executor")


def quantize_inputs_of(node, x) -> np.ndarray:
    """The zero-point-free codes of real inputs (see Input), as the producing runtime quantizes:
    ``quantizer`` "onnxruntime" (QuantizeLinear: rint(fl32(x) / fl32(s)), clamped) or "torch"
    (torch.quantize_per_tensor on x86/fbgemm: rint(fl32(fma(x, fl32(1 / fl32(s)), z))), clamped,
    then - z; the fused multiply-add rounds once, reproduced in float64 where x * inv is exact) or
    "bipolar" (QONNX BipolarQuant: codes +-1, +1 where x >= 0; qparams: 2-bit signed, scale s)."""
    qp = node.qparams
    z = int(qp.zero_point)
    if node.attrs.get("quantizer") == "bipolar":  # QONNX BipolarQuant: +1 where x >= 0, else -1
        return np.where(np.asarray(x, np.float32) >= 0, 1, -1).astype(np.int64)
    if node.attrs.get("quantizer", "onnxruntime") == "torch":
        inv = np.float64(np.float32(1.0) / np.float32(qp.scale))
        y = (np.asarray(x, np.float32).astype(np.float64) * inv + z).astype(np.float32)
        return (np.clip(np.rint(y), qp.qmin, qp.qmax) - z).astype(np.int64)
    y = np.asarray(x, np.float32) / np.float32(qp.scale)
    return np.rint(np.clip(y, qp.qmin - z, qp.qmax - z)).astype(np.int64)


@register
class Output(OpDef):
    """A graph output: the value of its input, assigned to its ``result`` format. attrs:
    encoding: how codes read as real values — "fixed" (the format's LSB weight) or "affine"
    (scale * code, float32, as DequantizeLinear of a zero-point-free code)."""
    traits = frozenset({Trait.IO, Trait.MOVE, Trait.GATHER})

    name = "output"
    attrs = {"encoding": "fixed"}
    #: host: float steps the host runs on the output's real values (qhw.ops.host)
    optional_attrs = ("host",)

    def check(self, node):
        super().check(node)
        _check_encoding(node)
        if "host" in node.attrs:
            from qhw.ops import host

            host.check(node.attrs["host"], f"output {node.name!r}", False)

    def decode(self, node, raw) -> np.ndarray:
        """Real values of the output's raw codes (after the host steps, if any)."""
        if node.attrs["encoding"] == "affine":
            y = np.asarray(raw).astype(np.float32) * np.asarray(node.qparams.scale, np.float32)
        else:
            y = node.formats["result"].to_float(raw)
        if "host" in node.attrs:
            from qhw.ops import host

            y = host.apply(node.attrs["host"]["steps"], y)
        return y

    def golden(self, node, inputs, in_fmts, ctx):
        return ctx.assign(node.name, node.formats["result"], inputs[0], in_fmts[0])

    def float_eval(self, node, inputs):
        return inputs[0]
