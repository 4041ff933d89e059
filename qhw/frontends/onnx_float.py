"""Import float ONNX models into qhw graphs (the ``[onnx]`` extra).

Supported: Gemm, MatMul, Add, Relu, Clip, Sigmoid, Tanh, Softmax, Conv (1-D/2-D, group 1),
Flatten, Reshape (to rank 2), MaxPool, AveragePool, BatchNormalization (folded into the Conv or
Gemm before it), Identity and Dropout (skipped). Layers are named after the ONNX nodes, so
per-layer precision configs can address them.

ONNX is channels-first (N, C, H, W); qhw is channels-last. Convolution weights are transposed, and
the rows of a Gemm after a Flatten are permuted so the flattened order matches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qhw.errors import MissingToolError, ModelError
from qhw.frontends.report import MappingReport
from qhw.graph import Graph, GraphBuilder
from qhw.names import check_onnx_names
from qhw.ops import names as registered_ops

SUPPORTED = ("Gemm", "MatMul", "Add", "Relu", "Clip", "Sigmoid", "Tanh", "Softmax", "Conv",
             "Flatten", "Reshape", "MaxPool", "AveragePool", "BatchNormalization", "Identity",
             "Dropout", "Resize", "Upsample", "DepthToSpace")


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise MissingToolError("ONNX import needs the onnx package: pip install 'qhw[onnx]'") from None
    return onnx, numpy_helper


@dataclass
class _Tensor:
    """A qhw tensor standing for an ONNX value: its name in the graph, whether it came from a
    channels-first ONNX tensor (rank > 2), and for flattened ones the row permutation."""

    name: str
    channels_last: bool = False
    perm: np.ndarray | None = None


#: the float importer's report is the shared mapping report (kept under its old name)
ImportReport = MappingReport


def _ident(text: str) -> str:
    return re.sub(r"\s+", "_", text) or "node"


class _Importer:
    def __init__(self, model, input_format) -> None:
        onnx, numpy_helper = _onnx()
        self.onnx = onnx
        self.g = model.graph
        self.consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in self.g.initializer}
        for node in self.g.node:  # Constant nodes are initializers too
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t).astype(np.float64)
        self.b = GraphBuilder(_ident(self.g.name or "onnx_model"))
        self.vals: dict[str, _Tensor] = {}
        self.report = ImportReport()
        self.input_format = input_format
        self.used_names: set[str] = set()
        self.consumers: dict[str, int] = {}
        for node in self.g.node:
            for i in node.input:
                self.consumers[i] = self.consumers.get(i, 0) + 1

    # ----------------------------------------------------------------- helpers
    def name_for(self, node, suffix="") -> str:
        base = _ident(node.name or f"{node.op_type.lower()}_{node.output[0]}") + suffix
        name, k = base, 1
        while name in self.used_names:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    def attr(self, node, key, default=None):
        for a in node.attribute:
            if a.name == key:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def const(self, node, name: str) -> np.ndarray:
        if name not in self.consts:
            raise ModelError(f"ONNX node {node.name!r} ({node.op_type}): input {name!r} must be a "
                             "constant (initializer) for qhw to bake it into hardware")
        return self.consts[name]

    def tensor(self, node, name: str) -> _Tensor:
        if name not in self.vals:
            raise ModelError(f"ONNX node {node.name!r} ({node.op_type}) reads {name!r}, which no "
                             "supported node produces")
        return self.vals[name]

    # ----------------------------------------------------------------- graph
    def run(self) -> Graph:
        for inp in self.g.input:
            if inp.name in self.consts:
                continue
            dims = [d.dim_value for d in inp.type.tensor_type.shape.dim][1:]
            if not dims or any(d <= 0 for d in dims):
                raise ModelError(f"ONNX input {inp.name!r} needs a fixed shape after the batch axis, got {dims}")
            shape = dims if len(dims) == 1 else dims[1:] + dims[:1]  # channels last
            name = _ident(inp.name)
            self.used_names.add(name)
            self.b.input(name, shape, self.input_format)
            self.vals[inp.name] = _Tensor(name, channels_last=len(dims) > 1)
        for node in self.g.node:
            if node.op_type == "Constant":
                continue
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None:
                raise ModelError(f"ONNX node {node.name!r}: op {node.op_type!r} is not supported; "
                                 f"supported: {', '.join(SUPPORTED)}")
            handler(node)
        for out in self.g.output:
            t = self.tensor(self.g.node[-1], out.name)
            name = _ident(out.name)
            if name in self.used_names:
                name += "_out"
            self.b.output(name, t.name)
        return self.b.graph

    def _set(self, node, t: _Tensor, qhw_op: str) -> None:
        self.vals[node.output[0]] = t
        self.report.add(node.name, node.op_type, t.name, qhw_op)

    def _unary(self, node, op: str, **attrs) -> None:
        if op not in registered_ops():
            raise ModelError(f"ONNX node {node.name!r}: {node.op_type} needs qhw op {op!r}, which "
                             f"this build of qhw does not provide yet; supported ops: {', '.join(registered_ops())}")
        x = self.tensor(node, node.input[0])
        name = self.b.node(self.name_for(node), op, [x.name], attrs)
        self._set(node, _Tensor(name, x.channels_last, x.perm), op)

    # ----------------------------------------------------------------- ops
    def op_Identity(self, node):
        self.vals[node.output[0]] = self.tensor(node, node.input[0])
        self.report.add(node.name, node.op_type, None, "skipped")

    op_Dropout = op_Identity

    def op_Relu(self, node):
        self._unary(node, "relu")

    def op_Sigmoid(self, node):
        self._unary(node, "sigmoid")

    def op_Tanh(self, node):
        self._unary(node, "tanh")

    def op_Softmax(self, node):
        self._unary(node, "softmax")

    def op_Clip(self, node):
        lo = self.const(node, node.input[1]).item() if len(node.input) > 1 and node.input[1] else None
        hi = self.const(node, node.input[2]).item() if len(node.input) > 2 and node.input[2] else None
        if lo == 0.0 and hi == 6.0:
            self._unary(node, "relu6")
        else:
            self._unary(node, "clip", min_value=lo, max_value=hi)

    def _dense(self, node, x: _Tensor, w: np.ndarray, bias) -> None:
        if x.perm is not None:
            w = w[x.perm]
        params = {"weight": w} if bias is None else {"weight": w, "bias": bias}
        name = self.b.node(self.name_for(node), "dense", [x.name], params=params)
        self._set(node, _Tensor(name), "dense")

    def op_Gemm(self, node):
        x = self.tensor(node, node.input[0])
        if self.attr(node, "transA", 0):
            raise ModelError(f"ONNX node {node.name!r}: Gemm with transA=1 is not supported")
        w = self.const(node, node.input[1])
        if self.attr(node, "transB", 0):
            w = w.T
        w = w * self.attr(node, "alpha", 1.0)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = np.broadcast_to(self.const(node, node.input[2]) * self.attr(node, "beta", 1.0),
                                   (w.shape[1],)).copy()
        self._dense(node, x, w, bias)

    def op_MatMul(self, node):
        x = self.tensor(node, node.input[0])
        self._dense(node, x, self.const(node, node.input[1]), None)

    def op_Add(self, node):
        a, b = node.input
        if b in self.consts or a in self.consts:
            x_name, c_name = (a, b) if b in self.consts else (b, a)
            x = self.tensor(node, x_name)
            prev = self.b.graph.node(x.name)
            c = self.consts[c_name]
            channels = prev.params["weight"].shape[-1] if prev.op in ("dense", "conv1d", "conv2d") else 0
            # a per-channel constant: (M,) / (1, M) after a MatMul, (C, 1[, 1]) / (1, C, 1[, 1]) after a Conv
            per_channel = channels and c.size in (1, channels) and (
                prev.op == "dense" or c.ndim < 2 or all(d == 1 for d in c.shape[-(c.ndim - 1 - (c.ndim > 3)):]))
            if per_channel and "bias" not in prev.params and self.consumers.get(x_name, 0) == 1:
                prev.params["bias"] = np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float64).copy()
                self.vals[node.output[0]] = x
                self.report.add(node.name, node.op_type, prev.name, f"bias of {prev.name}")
                return
            raise ModelError(f"ONNX node {node.name!r}: Add of a constant is supported only as the "
                             "per-channel bias of the MatMul/Gemm/Conv right before it")
        ta, tb = self.tensor(node, a), self.tensor(node, b)
        name = self.b.add(self.name_for(node), ta.name, tb.name)
        self._set(node, _Tensor(name, ta.channels_last, ta.perm), "add")

    def _spatial_attrs(self, node, dims: int, kernel=None) -> dict[str, Any]:
        pads = self.attr(node, "pads", [0] * (2 * dims))
        auto = self.attr(node, "auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER",):
            pads = "same"
        elif auto == "VALID":
            pads = [0] * (2 * dims)
        elif auto != "NOTSET":
            raise ModelError(f"ONNX node {node.name!r}: auto_pad {auto} is not supported")
        kernel = list(self.attr(node, "kernel_shape", kernel))
        return {"kernel_size": kernel, "stride": list(self.attr(node, "strides", [1] * dims)),
                "padding": pads if isinstance(pads, str) else list(pads)}

    def op_Conv(self, node):
        x = self.tensor(node, node.input[0])
        w = self.const(node, node.input[1])  # (Cout, Cin, *k)
        dims = w.ndim - 2
        if dims not in (1, 2) or self.attr(node, "group", 1) != 1:
            raise ModelError(f"ONNX node {node.name!r}: only 1-D/2-D convolutions with group=1 are supported")
        attrs = self._spatial_attrs(node, dims, list(w.shape[2:]))
        attrs["dilation"] = list(self.attr(node, "dilations", [1] * dims))
        wt = np.transpose(w, tuple(range(2, 2 + dims)) + (1, 0))
        params = {"weight": wt}
        if len(node.input) > 2 and node.input[2]:
            params["bias"] = self.const(node, node.input[2])
        name = self.b.node(self.name_for(node), f"conv{dims}d", [x.name], attrs, params)
        self._set(node, _Tensor(name, True), f"conv{dims}d")

    def _pool(self, node, kind: str):
        x = self.tensor(node, node.input[0])
        dims = len(self.attr(node, "kernel_shape"))
        attrs = self._spatial_attrs(node, dims)
        if kind == "avg" and any(attrs["padding"] if not isinstance(attrs["padding"], str) else [1]) \
                and not self.attr(node, "count_include_pad", 0):
            raise ModelError(f"ONNX node {node.name!r}: padded AveragePool needs count_include_pad=1")
        op = f"{kind}pool{dims}d"
        name = self.b.node(self.name_for(node), op, [x.name], attrs)
        self._set(node, _Tensor(name, True), op)

    def op_MaxPool(self, node):
        self._pool(node, "max")

    def op_AveragePool(self, node):
        self._pool(node, "avg")

    def op_Resize(self, node):
        """Nearest-neighbour resize by integer factors -> upsample (qhw.frontends.resize)."""
        from qhw.frontends.resize import nearest_factors

        x = self.tensor(node, node.input[0])
        if not x.channels_last:
            raise ModelError(f"ONNX node {node.name!r}: Resize of a flattened tensor is not supported")
        if node.op_type == "Upsample":  # opset 7-9: scales as an attribute or the second input
            attrs = {"mode": self.attr(node, "mode", b"nearest"),
                     "coordinate_transformation_mode": b"asymmetric", "nearest_mode": b"floor"}
            scales = self.attr(node, "scales")
            if scales is None and len(node.input) > 1:
                scales = self.const(node, node.input[1])
            sizes = None
        else:
            attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
            # opset 10: (X, scales); 11+: (X, roi, scales, sizes)
            ins = list(node.input) + [""] * 4
            scale_name, size_name = (ins[1], "") if len(node.input) == 2 else (ins[2], ins[3])
            scales = self.const(node, scale_name) if scale_name else None
            sizes = self.const(node, size_name) if size_name else None
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        shape = self._shape_of(x.name)
        nchw = (1, shape[-1]) + tuple(shape[:-1])
        factors = nearest_factors(f"ONNX node {node.name!r}", attrs, scales, sizes, nchw)
        name = self.b.upsample(self.name_for(node), x.name, factors)
        self._set(node, _Tensor(name, True), "upsample")

    op_Upsample = op_Resize

    def op_DepthToSpace(self, node):
        x = self.tensor(node, node.input[0])
        if not x.channels_last:
            raise ModelError(f"ONNX node {node.name!r}: DepthToSpace of a flattened tensor is not supported")
        mode = self.attr(node, "mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        name = self.b.node(self.name_for(node), "depth_to_space", [x.name],
                           {"block_size": int(self.attr(node, "blocksize")), "mode": mode})
        self._set(node, _Tensor(name, True), "depth_to_space")

    def _flatten_to(self, node, x: _Tensor) -> None:
        perm = None
        if x.channels_last:
            # our flat order is (*spatial, C); ONNX's is (C, *spatial)
            shape = self._shape_of(x.name)
            chw = (shape[-1],) + tuple(shape[:-1])
            perm = np.arange(int(np.prod(chw))).reshape(chw).transpose(
                tuple(range(1, len(chw))) + (0,)).ravel()
        name = self.b.flatten(self.name_for(node), x.name)
        self._set(node, _Tensor(name, False, perm), "flatten")

    def _shape_of(self, name: str):
        """Shape of a tensor of the graph built so far (inferred on a probed copy)."""
        from qhw.graph import Node
        from qhw.passes import infer_shapes

        g = self.b.graph.copy()
        g.add(Node("__probe__", "output", [name]))
        g.validate()
        infer_shapes(g)
        return g.node(name).shape

    def op_Flatten(self, node):
        if self.attr(node, "axis", 1) != 1:
            raise ModelError(f"ONNX node {node.name!r}: Flatten with axis != 1 is not supported")
        self._flatten_to(node, self.tensor(node, node.input[0]))

    def op_Reshape(self, node):
        shape = [int(v) for v in self.const(node, node.input[1])]
        if node.input[0] in self.consts:  # a constant reshaped (e.g. weights): fold it now
            c = self.consts[node.input[0]]
            dims = [c.shape[i] if d == 0 else d for i, d in enumerate(shape)]
            self.consts[node.output[0]] = c.reshape(dims)
            self.report.add(node.name, node.op_type, None, "constant folded")
            return
        if len(shape) != 2 or shape[0] not in (0, 1, -1) and shape[1] != -1:
            raise ModelError(f"ONNX node {node.name!r}: Reshape to {shape} is not supported "
                             "(only flattening to (batch, features))")
        self._flatten_to(node, self.tensor(node, node.input[0]))

    def op_BatchNormalization(self, node):
        x = self.tensor(node, node.input[0])
        scale, bias, mean, var = (self.const(node, n) for n in node.input[1:5])
        eps = self.attr(node, "epsilon", 1e-5)
        k = scale / np.sqrt(var + eps)
        prev = self.b.graph.node(x.name)
        if prev.op not in ("dense", "conv1d", "conv2d") or self.consumers.get(node.input[0], 0) != 1:
            raise ModelError(f"ONNX node {node.name!r}: BatchNormalization is supported only right "
                             "after a Conv/Gemm whose output nothing else reads (it is folded into it)")
        prev.params["weight"] = prev.params["weight"] * k
        b0 = prev.params.get("bias", np.zeros_like(k))
        prev.params["bias"] = (b0 - mean) * k + bias
        self.vals[node.output[0]] = x
        self.report.add(node.name, node.op_type, prev.name, f"folded into {prev.name}")


def load_onnx(source: str | Path | Any, *, input_format="ap_fixed<16,6>", config=None,
              default=None, report: ImportReport | None = None) -> Graph:
    """Import a float ONNX model (path or ``onnx.ModelProto``) as a prepared qhw graph.

    input_format: the fixed-point format of every graph input (a config can override it);
    config/default: as for :func:`qhw.passes.prepare`. ``report`` (optional) receives the
    node -> op table.
    """
    onnx, _ = _onnx()
    if isinstance(source, (str, Path)):
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
            raise ModelError(f"cannot read ONNX file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    else:
        model = source
        check_onnx_names(model)
    imp = _Importer(model, input_format)
    graph = imp.run()
    from qhw.passes import prepare

    prepared = prepare(graph, config=config, default=default)
    if report is not None:
        imp.report.fill(prepared)
        report.rows.extend(imp.report.rows)
    return prepared
