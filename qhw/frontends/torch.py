"""Import PyTorch modules into qhw graphs (the ``[torch]`` extra, torch==2.13.0).

``load_torch(module, example_input_shape)`` traces the module with ``torch.fx`` (``nn.Sequential``
and any fx-traceable module) and maps it layer by layer; nodes are named after the modules
("fc1", "features.0"), functions after their fx nodes ("relu", "flatten").

Layout: PyTorch is channels-first, qhw channels-last. An input of rank >= 2 is taken as
channels-first (C, L) / (C, H, W) in PyTorch and becomes (L, C) / (H, W, C) in the qhw graph:
**feed the qhw graph channels-last data** (``x.permute(0, 2, 3, 1)`` / ``x.transpose(1, 2)``);
nothing is inserted at run time. Convolution weights are transposed to (*kernel, Cin, Cout); a
Linear (or BatchNorm1d) after a Flatten of a channels-first tensor has its rows permuted so that
the results equal PyTorch's; an output that is still channels-first in PyTorch comes out
channels-last. BatchNorm uses the running statistics (``eval()`` semantics) and is folded into the
convolution/linear layer next to it. The module is never modified (tracing works on a copy).
"""
from __future__ import annotations

import copy
import math
import operator
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from qhw.errors import MissingToolError, ModelError
from qhw.frontends.report import MappingReport, MappingRow
from qhw.graph import Graph, GraphBuilder

SUPPORTED_MODULES = ("Linear", "Conv1d", "Conv2d", "ReLU", "ReLU6", "Sigmoid", "Tanh",
                     "Hardsigmoid", "Hardtanh", "BatchNorm1d", "BatchNorm2d", "MaxPool1d",
                     "MaxPool2d", "AvgPool1d", "AvgPool2d", "Upsample (nearest, integer factors)",
                     "Flatten", "Embedding", "Identity", "Dropout")
SUPPORTED_FUNCTIONS = ("relu", "relu6", "sigmoid", "tanh", "hardsigmoid", "flatten",
                       "add (two tensors)", "Tensor.view/reshape(batch, -1)", "Tensor.size")


def _torch():
    import os
    import sys

    if "torch" not in sys.modules:
        # PyTorch's C++ warnings (e.g. the deprecation notice torch.jit.load prints for quantized
        # tensors) go straight to stderr; the CLI's contract is one ``qhw:`` line per problem
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    try:
        import torch
        import torch.fx
    except ImportError:
        raise MissingToolError("PyTorch import needs torch: pip install 'qhw[torch]'") from None
    return torch


# ------------------------------------------------------------------ the mapping report
# ------------------------------------------------------------------ tensors in flight
@dataclass
class _T:
    """The qhw tensor standing for an fx value.

    cf: PyTorch holds it channels-first (rank >= 2 per sample); qhw holds it channels-last.
    perm: for flattened channels-first tensors, perm[j] = PyTorch's index of qhw feature j.
    shape: PyTorch's per-sample shape.
    """

    name: str
    shape: tuple[int, ...]
    cf: bool = False
    perm: np.ndarray | None = None


def sanitize(name: str) -> str:
    """A node name from a module path or fx name: letters, digits, '_' and '.' kept."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) or "node"


def _pair(v, dims: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * dims


class _Importer:
    def __init__(self, torch, gm, input_format, input_layout: str) -> None:
        self.torch, self.gm = torch, gm
        self.nn = torch.nn
        self.modules = dict(gm.named_modules())
        self.b = GraphBuilder(sanitize(type(gm).__name__ if type(gm).__name__ != "GraphModule"
                                       else "torch_model"))
        self.vals: dict[Any, _T] = {}
        self.sizes: set[Any] = set()  # fx nodes holding x.size(0): the batch size
        self.report = MappingReport()
        self.used: set[str] = set()
        self.input_format, self.input_layout = input_format, input_layout

    # ----------------------------------------------------------------- helpers
    def name(self, base: str) -> str:
        base = sanitize(base)
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    @staticmethod
    def shape(fx_node) -> tuple[int, ...]:
        meta = fx_node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            raise ModelError(f"fx node {fx_node.name!r} does not produce one tensor")
        return tuple(int(d) for d in meta.shape[1:])

    def arg(self, fx_node, i: int = 0) -> _T:
        a = fx_node.args[i] if i < len(fx_node.args) else None
        if a not in self.vals:
            raise ModelError(f"fx node {fx_node.name!r} ({self.kind(fx_node)}): argument {i} "
                             f"({a!r}) is not a tensor qhw computes")
        return self.vals[a]

    def kind(self, fx_node) -> str:
        if fx_node.op == "call_module":
            return type(self.modules[fx_node.target]).__name__
        t = fx_node.target
        return t if isinstance(t, str) else getattr(t, "__name__", str(t))

    def source(self, fx_node) -> str:
        return fx_node.target if fx_node.op == "call_module" else fx_node.name

    def emit(self, fx_node, op: str, inputs: list[_T], attrs=None, params=None, *, cf=None,
             perm=None) -> None:
        name = self.name(self.source(fx_node))
        self.b.node(name, op, [t.name for t in inputs], attrs, params)
        x = inputs[0]
        self.vals[fx_node] = _T(name, self.shape(fx_node), x.cf if cf is None else cf,
                                x.perm if perm is None and cf is None else perm)
        self.report.rows.append(MappingRow(self.source(fx_node), self.kind(fx_node), name, op))

    def alias(self, fx_node, t: _T, what: str) -> None:
        """No qhw node: the fx value is ``t`` (identity, dropout, a flatten of a flat tensor)."""
        self.vals[fx_node] = t
        self.report.rows.append(MappingRow(self.source(fx_node), self.kind(fx_node), t.name, what))

    def unsupported(self, fx_node, why: str = "") -> ModelError:
        what = (f"module {fx_node.target!r} ({self.kind(fx_node)})" if fx_node.op == "call_module"
                else f"{fx_node.op.replace('_', ' ')} {self.kind(fx_node)!r} (fx node {fx_node.name!r})")
        return ModelError(f"{what} is not supported{self.context}{': ' + why if why else ''}; "
                          f"{self.supported_text}")

    #: where the error happens and what is supported (the quantized importer says its own)
    context = ""
    supported_text = (f"supported modules: {', '.join(SUPPORTED_MODULES)}; functions: "
                      f"{', '.join(SUPPORTED_FUNCTIONS)}")

    # ----------------------------------------------------------------- the walk
    def run(self) -> Graph:
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                self.placeholder(n)
            elif n.op == "output":
                self.output(n)
            elif n.op == "call_module":
                handler = getattr(self, "mod_" + type(self.modules[n.target]).__name__, None)
                if handler is None:
                    raise self.unsupported(n)
                handler(n, self.modules[n.target])
            elif n.op in ("call_function", "call_method"):
                self.function(n)
            else:  # get_attr: a parameter used as a tensor
                raise self.unsupported(n, "tensors read from module attributes cannot be mapped")
        return self.b.graph

    def placeholder(self, n) -> None:
        shape = self.shape(n)
        indices = self.feeds_embedding(n)
        cf = len(shape) >= 2 and self.input_layout == "channels_first" and not indices
        qshape = shape[1:] + shape[:1] if cf else shape
        name = self.name(n.name)
        fmt = _index_format(self.embedding_rows(n)) if indices else self.input_format
        self.b.input(name, qshape, fmt)
        self.vals[n] = _T(name, shape, cf)
        self.report.rows.append(MappingRow(n.name, "input", name, "input"))

    def feeds_embedding(self, n) -> bool:
        return any(u.op == "call_module" and isinstance(self.modules[u.target], self.nn.Embedding)
                   for u in n.users)

    def embedding_rows(self, n) -> int:
        return max(self.modules[u.target].num_embeddings for u in n.users if u.op == "call_module"
                   and isinstance(self.modules[u.target], self.nn.Embedding))

    def output(self, n) -> None:
        outs = n.args[0] if isinstance(n.args[0], (tuple, list)) else [n.args[0]]
        for i, o in enumerate(outs):
            if o not in self.vals:
                raise ModelError(f"model output {i} ({o!r}) is not a tensor qhw computes")
            name = self.name("output" if len(outs) == 1 else f"output_{i}")
            self.b.output(name, self.vals[o].name)
            self.report.rows.append(MappingRow(n.name, "output", name, "output"))

    # ----------------------------------------------------------------- modules
    def mod_Linear(self, n, m) -> None:
        x = self.arg(n)
        if x.cf:
            raise self.unsupported(n, f"Linear over the last axis of a channels-first tensor of "
                                      f"shape {x.shape} (flatten it first)")
        w = _np(m.weight).T  # (in, out)
        if x.perm is not None:
            w = w[x.perm]
        params = {"weight": w} if m.bias is None else {"weight": w, "bias": _np(m.bias)}
        self.emit(n, "dense", [x], params=params, cf=False, perm=None)

    def _conv(self, n, m, dims: int) -> None:
        x = self.arg(n)
        if not x.cf or len(x.shape) != dims + 1:
            raise self.unsupported(n, f"input of shape {x.shape} is not channels-first "
                                      f"(C, {'L' if dims == 1 else 'H, W'})")
        if m.groups != 1 or m.padding_mode != "zeros":
            raise self.unsupported(n, f"groups={m.groups}, padding_mode={m.padding_mode!r} "
                                      "(only groups=1 with zero padding)")
        k, d = _pair(m.kernel_size, dims), _pair(m.dilation, dims)
        if m.padding == "same":
            total = [di * (ki - 1) for ki, di in zip(k, d)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]  # extra at the end
        elif m.padding == "valid":
            pads = [0] * (2 * dims)
        else:
            pads = list(_pair(m.padding, dims)) * 2
        w = _np(m.weight)  # (Cout, Cin, *k) -> (*k, Cin, Cout)
        params = {"weight": np.transpose(w, tuple(range(2, 2 + dims)) + (1, 0))}
        if m.bias is not None:
            params["bias"] = _np(m.bias)
        attrs = {"kernel_size": list(k), "stride": list(_pair(m.stride, dims)),
                 "dilation": list(d), "padding": pads}
        self.emit(n, f"conv{dims}d", [x], attrs, params, cf=True, perm=None)

    def mod_Conv1d(self, n, m) -> None:
        self._conv(n, m, 1)

    def mod_Conv2d(self, n, m) -> None:
        self._conv(n, m, 2)

    def _batchnorm(self, n, m, ranks: tuple[int, ...]) -> None:
        x = self.arg(n)
        if len(x.shape) not in ranks or (len(x.shape) > 1 and not x.cf):
            raise self.unsupported(n, f"input of shape {x.shape} (channels must be axis 1 of a "
                                      "channels-first tensor or the features of a flat one)")
        if m.running_mean is None:
            raise self.unsupported(n, "track_running_stats=False (no running statistics to fold)")
        c = m.num_features
        params = {"gamma": _np(m.weight) if m.affine else np.ones(c),
                  "beta": _np(m.bias) if m.affine else np.zeros(c),
                  "mean": _np(m.running_mean), "var": _np(m.running_var)}
        if x.perm is not None:  # flattened features: qhw feature j is PyTorch's perm[j]
            params = {k: v[x.perm] for k, v in params.items()}
        self.emit(n, "batchnorm", [x], {"epsilon": float(m.eps)}, params)

    def mod_BatchNorm1d(self, n, m) -> None:
        self._batchnorm(n, m, (1, 2))

    def mod_BatchNorm2d(self, n, m) -> None:
        self._batchnorm(n, m, (3,))

    def _pool(self, n, m, kind: str, dims: int) -> None:
        x = self.arg(n)
        if not x.cf or len(x.shape) != dims + 1:
            raise self.unsupported(n, f"input of shape {x.shape} is not channels-first")
        if m.ceil_mode:
            raise self.unsupported(n, "ceil_mode=True")
        if kind == "max" and (m.return_indices or set(_pair(m.dilation, dims)) != {1}):
            raise self.unsupported(n, "return_indices or dilation > 1")
        pad = _pair(m.padding, dims)
        if kind == "avg" and (getattr(m, "divisor_override", None) is not None
                              or (any(pad) and not m.count_include_pad)):
            raise self.unsupported(n, "divisor_override, or padding with count_include_pad=False "
                                      "(qhw divides by the full window)")
        k = _pair(m.kernel_size, dims)
        stride = _pair(m.stride, dims) if m.stride is not None else k
        attrs = {"kernel_size": list(k), "stride": list(stride), "padding": list(pad) * 2}
        self.emit(n, f"{kind}pool{dims}d", [x], attrs)

    def mod_MaxPool1d(self, n, m) -> None:
        self._pool(n, m, "max", 1)

    def mod_MaxPool2d(self, n, m) -> None:
        self._pool(n, m, "max", 2)

    def mod_AvgPool1d(self, n, m) -> None:
        self._pool(n, m, "avg", 1)

    def mod_AvgPool2d(self, n, m) -> None:
        self._pool(n, m, "avg", 2)

    def mod_Upsample(self, n, m) -> None:
        """Nearest upsampling by integer factors: PyTorch reads input floor(dst / factor), a repeat."""
        x = self.arg(n)
        dims = len(x.shape) - 1
        if not x.cf or dims not in (1, 2):
            raise self.unsupported(n, f"input of shape {x.shape} is not a channels-first 1-D/2-D tensor")
        if m.mode != "nearest":
            raise self.unsupported(n, f"mode {m.mode!r} (only 'nearest', which copies values)")
        if m.size is not None:
            out = _pair(m.size, dims)
            f = [o / i for o, i in zip(out, x.shape[1:])]
        else:
            sf = m.scale_factor
            f = [float(v) for v in sf] if isinstance(sf, (tuple, list)) else [float(sf)] * dims
        if any(float(v) != int(v) or v < 1 for v in f):
            raise self.unsupported(n, f"scale {f} is not an integer factor per spatial axis")
        self.emit(n, "upsample", [x], {"scale": [int(v) for v in f]})

    def mod_Flatten(self, n, m) -> None:
        if m.start_dim != 1 or m.end_dim != -1:
            raise self.unsupported(n, f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) "
                                      "(only start_dim=1, end_dim=-1)")
        self.flatten(n, self.arg(n))

    def mod_ReLU(self, n, m) -> None:
        self.emit(n, "relu", [self.arg(n)])

    def mod_ReLU6(self, n, m) -> None:
        self.emit(n, "relu6", [self.arg(n)])

    def mod_Sigmoid(self, n, m) -> None:
        self.emit(n, "sigmoid", [self.arg(n)])

    def mod_Tanh(self, n, m) -> None:
        self.emit(n, "tanh", [self.arg(n)])

    def mod_Hardsigmoid(self, n, m) -> None:
        self.emit(n, "hard_sigmoid", [self.arg(n)], {"slope": 1.0 / 6.0, "offset": 0.5})

    def mod_Hardtanh(self, n, m) -> None:
        self.emit(n, "clip", [self.arg(n)], {"min_value": float(m.min_val), "max_value": float(m.max_val)})

    def mod_Identity(self, n, m) -> None:
        self.alias(n, self.arg(n), "skipped")

    def mod_Dropout(self, n, m) -> None:
        self.alias(n, self.arg(n), "skipped (inference)")

    def mod_Embedding(self, n, m) -> None:
        from qhw.ops import names

        if "embedding" not in names():
            raise self.unsupported(n, "this build of qhw has no 'embedding' op yet")
        if m.max_norm is not None:
            raise self.unsupported(n, "max_norm (renormalises rows at run time)")
        x = self.arg(n)
        if x.cf or x.perm is not None:
            raise self.unsupported(n, f"indices of shape {x.shape} must be a graph input")
        self.emit(n, "embedding", [x], params={"table": _np(m.weight)}, cf=False, perm=None)

    # ----------------------------------------------------------------- functions and methods
    def flatten(self, n, x: _T) -> None:
        if len(x.shape) == 1:
            self.alias(n, x, "skipped (already flat)")
            return
        perm = None
        if x.cf:  # qhw's flat order is (*spatial, C); PyTorch's is (C, *spatial)
            perm = np.arange(math.prod(x.shape)).reshape(x.shape).transpose(
                tuple(range(1, len(x.shape))) + (0,)).ravel()
        self.emit(n, "flatten", [x], cf=False, perm=perm)

    def function(self, n) -> None:
        t = n.target
        fname = t if isinstance(t, str) else getattr(t, "__name__", "")
        nn_f = self.torch.nn.functional
        if n.op == "call_method" and fname == "size":
            if n.args[1:] in ((0,),) or n.kwargs.get("dim") == 0:
                self.sizes.add(n)
                return
            raise self.unsupported(n, "only x.size(0), the batch size, is understood")
        unary = {"relu": "relu", "relu_": "relu", "relu6": "relu6", "sigmoid": "sigmoid",
                 "tanh": "tanh", "hardsigmoid": "hard_sigmoid"}
        if fname in unary and (n.op == "call_method" or t in _functions(self.torch, fname)):
            attrs = {"slope": 1.0 / 6.0, "offset": 0.5} if fname == "hardsigmoid" else None
            self.emit(n, unary[fname], [self.arg(n)], attrs)
            return
        if fname == "flatten" and (n.op == "call_method" or t is self.torch.flatten):
            start = n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)
            end = n.args[2] if len(n.args) > 2 else n.kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                raise self.unsupported(n, f"flatten(start_dim={start}, end_dim={end}) "
                                          "(only start_dim=1, end_dim=-1)")
            self.flatten(n, self.arg(n))
            return
        if n.op == "call_method" and fname in ("view", "reshape"):
            dims = n.args[1:]
            if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
                dims = tuple(dims[0])
            batch = len(dims) == 2 and (dims[0] == -1 or dims[0] in self.sizes)
            if batch and (dims[1] == -1 or dims[1] == math.prod(self.arg(n).shape)):
                self.flatten(n, self.arg(n))
                return
            raise self.unsupported(n, f"{fname}{tuple(dims)} (only flattening to (batch, -1))")
        if fname in ("add", "iadd") and (t in (operator.add, operator.iadd, self.torch.add)
                                         or n.op == "call_method") and not n.kwargs:
            a, b = self.arg(n, 0), self.arg(n, 1)
            if (a.cf, a.shape) != (b.cf, b.shape) or (a.perm is None) != (b.perm is None) \
                    or (a.perm is not None and not np.array_equal(a.perm, b.perm)):
                raise self.unsupported(n, f"add of tensors in different layouts {a.shape}, {b.shape}")
            self.emit(n, "add", [a, b])
            return
        if fname in ("dropout",) and t is nn_f.dropout:
            self.alias(n, self.arg(n), "skipped (inference)")
            return
        raise self.unsupported(n)


def _functions(torch, name: str) -> tuple:
    """The callables fx records for an activation called as a function."""
    f = torch.nn.functional
    return tuple(c for c in (getattr(torch, name, None), getattr(f, name, None),
                             getattr(torch.Tensor, name, None)) if c is not None)


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def _index_format(rows: int) -> str:
    return f"ap_uint<{max(1, (rows - 1).bit_length())}>"


# ------------------------------------------------------------------ entry point
def trace(module, example_input_shape, *, input_dtype=None):
    """(fx GraphModule of a copy of ``module`` in eval mode, with shapes propagated)."""
    torch = _torch()
    from torch.fx.passes.shape_prop import ShapeProp

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"load_torch needs a torch.nn.Module, got {type(module).__name__}")
    shape = tuple(int(d) for d in example_input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"example_input_shape must be one sample's shape (no batch axis), got "
                         f"{example_input_shape!r}")
    model = copy.deepcopy(module).eval()
    try:
        gm = model if isinstance(model, torch.fx.GraphModule) else torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises TraceError, TypeError, ... for untraceable code
        raise ModelError(f"{type(module).__name__} is not torch.fx-traceable: "
                         f"{str(exc).splitlines()[0][:200]}") from None
    gm.eval()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ModelError(f"{type(module).__name__}.forward takes {len(placeholders)} inputs; "
                         "load_torch imports single-input modules")
    embeds = [u for u in placeholders[0].users if u.op == "call_module"
              and isinstance(gm.get_submodule(u.target), torch.nn.Embedding)]
    example = torch.zeros((2,) + shape, dtype=input_dtype or (torch.long if embeds else torch.float32))
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as exc:
        raise ModelError(f"{type(module).__name__} does not run on an input of shape "
                         f"(batch, {', '.join(map(str, shape))}): {str(exc).splitlines()[0][:200]}") from None
    return gm


def load_torch(module, example_input_shape, *, input_format="ap_fixed<16,6>",
               input_layout: str = "channels_first", config=None, default=None,
               report: MappingReport | None = None) -> Graph:
    """Import a PyTorch module as a prepared qhw graph (batch norm folded).

    example_input_shape: one sample's shape in PyTorch's layout, without the batch axis
    ((16,) for an MLP, (C, L) or (C, H, W) for convolutions). input_format: the fixed-point
    format of the input (an Embedding's index input gets the unsigned integer format its row
    count needs). input_layout: "channels_first" (PyTorch's; the qhw graph then expects the
    channels-last permutation of it) or "channels_last" (rank >= 2 inputs whose last axis is
    already the features, e.g. sequences for a Linear). config/default: as for
    :func:`qhw.passes.prepare`. ``report`` (optional) receives the mapping table.
    (``qhw.frontends.load_torch`` sends a model converted by torch.ao.quantization to
    :mod:`qhw.frontends.torch_quantized` instead.)
    """
    if input_layout not in ("channels_first", "channels_last"):
        raise ValueError(f"input_layout must be 'channels_first' or 'channels_last', got {input_layout!r}")
    torch = _torch()
    gm = trace(module, example_input_shape)
    imp = _Importer(torch, gm, input_format, input_layout)
    graph = imp.run()

    from qhw.passes import prepare
    from qhw.passes.fold import fold_batchnorm, unfolded_batchnorms

    folded = fold_batchnorm(graph)
    left = unfolded_batchnorms(folded)
    if left:
        raise ModelError(f"batch norm {', '.join(map(repr, left))} follows no Linear/Conv it can be "
                         "folded into (and precedes none without padding); qhw has no standalone "
                         "fixed-point batch norm")
    prepared = prepare(folded, config=config, default=default)
    _describe(imp.report, graph, prepared)
    if report is not None:
        report.rows.extend(imp.report.rows)
    return prepared


def _describe(report: MappingReport, before: Graph, after: Graph) -> None:
    """Shapes and formats into the report; a folded batch norm's row names the layers that
    took it (the one before it, or else the ones after it)."""
    for row in report.rows:
        if row.op == "batchnorm":
            bn = before.node(row.node)
            prev = before.node(bn.inputs[0])
            took = [prev.name] if prev.name in after and not np.array_equal(
                prev.params.get("weight"), after.node(prev.name).params.get("weight")) \
                else [c.name for c in before.consumers(bn.name)]
            row.op, row.node = f"folded into {', '.join(took)}", took[0]
    report.fill(after)


__all__ = ["load_torch", "trace", "MappingReport", "MappingRow", "SUPPORTED_MODULES",
           "SUPPORTED_FUNCTIONS", "sanitize"]
