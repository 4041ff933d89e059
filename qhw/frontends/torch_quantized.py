"""Import PyTorch models quantized with ``torch.ao.quantization`` (eager mode or FX), bit-exactly.

What is imported: a converted model, i.e. the output of ``torch.ao.quantization.convert`` (eager:
QuantStub/DeQuantStub became ``Quantize``/``DeQuantize``, ``nn.Linear`` became
``torch.ao.nn.quantized.Linear``, fused ``LinearReLU``/``ConvReLU1d/2d``) or of
``quantize_fx.convert_fx`` (a GraphModule calling ``torch.quantize_per_tensor`` with scale and
zero point held as attributes). The walk is the float importer's (layouts, names, flatten
permutations: :mod:`qhw.frontends.torch`); quantized modules add their quantization parameters and
the graph is lowered to integers by :func:`qhw.passes.lower_affine.lower_affine`.

Arithmetic reproduced (x86 / fbgemm, PyTorch 2.13):
- input ``quantize_per_tensor``: q = clamp(rint(fl32(x * fl32(1 / s) + z))) with one rounding
  (a fused multiply-add) — the input node's ``quantizer: torch``;
- quantized Linear / Conv: acc = sum (q_x - z_x) * q_w (int32, symmetric int8 weights, per tensor
  or per output channel), then y = clamp(rint(fl32(fl32(acc + b') * m)) + z_y) with
  b' = fl32(bias / fl32(s_x * s_w)) and m = fl32(fl32(s_x * s_w) / s_y), clamped to the output
  dtype's range (and to z_y for a fused ReLU). qhw adds b' exactly (a binary fraction of the
  accumulator LSB) and multiplies by m exactly; fbgemm rounds acc + b' and the product to float32
  first. The two agree except when the exact value lies within ~2**-24 relative of a half-integer
  (a float32 tie), where the result can differ by one code: measured in the tests.
- quantized elementwise functions (Sigmoid, Tanh, Hardsigmoid, LeakyReLU): a ``code_table`` of
  the quantized torch op's own output code for every input code (exact by construction);
- ``cat`` (FloatFunctional.cat, ``quantized::cat``): every input whose scale or zero point differs
  from the output's is requantized by a code table computed by ``quantized::cat`` itself (on
  tensors of every code, in the input's rank and memory format: the channels-last fast path
  rounds its own way), then the codes are concatenated;
- average pooling (AvgPool2d without padding, AdaptiveAvgPool2d with uniform windows): PyTorch
  keeps the input's scale and zero point and rounds the mean of the raw codes half to even,
  q_out = rint(sum(q) / N) (measured: every window sum for N = 4, 6, 9, 16, 25, 49, zero points
  0, 37, 128, contiguous and channels-last inputs; subtracting the zero point first is off for
  odd zero points; qint8 codes the same way, signed sums included: N = 4, 6, 9, 16, zero points
  -128, -5, 0, 37, 127). qhw sums the window exactly (a convolution with 0/1 weights and bias N*z)
  and maps the sum to the output code with a table.

Files (the CLI): a TorchScript archive (``torch.jit.save(torch.jit.script(model))``, what PyTorch's
quantization docs tell users to save). It is loaded with ``torch.jit.load`` (TorchScript's own
loader: no Python pickle, no Python code) and **never run**: qhw reads its graph (calls of
submodules' ``forward`` and a few aten functions) and its attributes (scales, zero points, packed
weights unpacked by PyTorch's builtin ``quantized::*_unpack`` ops), and rebuilds the model from
genuine torch.ao modules before the walk above. The input shape is not stored in a scripted
archive: it is given (``--input-shape``) unless the archive was traced with shapes.
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.frontends.report import MappingReport, MappingRow, deliver
from qhw.frontends.torch import _T, _Importer, _functions, _np, _pair, _torch, trace
from qhw.graph import Graph
from qhw.quant import QuantParams

#: quantized module classes (by name, under torch.ao.nn.quantized / .intrinsic.quantized) mapped
SUPPORTED_QUANTIZED = ("Quantize", "DeQuantize", "Linear", "LinearReLU", "Conv1d", "Conv2d",
                       "ConvReLU1d", "ConvReLU2d", "ReLU6", "LeakyReLU", "FloatFunctional.add/add_relu/cat")
#: float modules and functions that work on quantized tensors unchanged (codes and qparams kept)
SUPPORTED_ON_CODES = ("ReLU", "Hardtanh", "MaxPool1d", "MaxPool2d", "Flatten", "Identity", "Dropout",
                      "Sigmoid", "Tanh", "Hardsigmoid", "AvgPool2d", "AdaptiveAvgPool2d (uniform windows)",
                      "flatten", "view/reshape(batch, -1)", "relu", "sigmoid", "tanh", "hardsigmoid",
                      "leaky_relu", "adaptive_avg_pool2d", "avg_pool2d", "dequantize",
                      "torch.quantize_per_tensor (FX)")


def is_quantized_module(module) -> bool:
    """True when ``module`` holds torch.ao quantized modules (a converted model)."""
    return hasattr(module, "modules") and any(_quantized_kind(m) for m in module.modules())


def _quantized_kind(m) -> str | None:
    mod = type(m).__module__
    if mod.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")):
        return type(m).__name__
    return None


def _qparams_of(meta, where: str) -> QuantParams:
    """The per-tensor QuantParams of a quantized fx value (from ShapeProp's tensor_meta)."""
    torch = _torch()
    if meta is None or not getattr(meta, "is_quantized", False):
        raise ModelError(f"{where}: expected a quantized tensor here")
    qp = meta.qparams
    if qp.get("qscheme") not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        raise ModelError(f"{where}: activation quantization {qp.get('qscheme')} is not per tensor")
    return _dtype_qparams(float(qp["scale"]), int(qp["zero_point"]), meta.dtype, where)


def _dtype_qparams(scale: float, zp: int, dtype, where: str) -> QuantParams:
    torch = _torch()
    kinds = {torch.quint8: (8, False), torch.qint8: (8, True)}
    if dtype not in kinds:
        raise ModelError(f"{where}: quantized dtype {dtype} is not supported; valid: quint8, qint8")
    bits, signed = kinds[dtype]
    try:
        return QuantParams(float(np.float32(scale)), int(zp), bits, signed)
    except ValueError as exc:
        raise ModelError(f"{where}: bad quantization parameters: {exc}") from None


class _QuantImporter(_Importer):
    """The float importer plus torch.ao's quantized modules; builds an affine graph."""

    def __init__(self, torch, gm, input_layout: str) -> None:
        super().__init__(torch, gm, "ap_int<8>", input_layout)
        self.weights: dict[str, QuantParams] = {}
        self.bias_lsb: dict[str, np.ndarray] = {}
        self.consts: dict = {}

    def run(self) -> Graph:
        for n in self.gm.graph.nodes:
            if n.op == "get_attr":  # FX-converted models keep scales and zero points as attributes
                self.consts[n] = _attr(self.gm, n.target)
                continue
            if n.op == "call_module":
                m = self.modules[n.target]
                kind = _quantized_kind(m)
                if kind is not None:
                    handler = getattr(self, "q_" + kind, None)
                    if handler is None:
                        raise self.unsupported(n, "no integer mapping of this quantized module")
                    handler(n, m)
                    continue
            self.step(n)
        if not self.inputs_quantized:
            raise ModelError("the model has no Quantize (QuantStub) or quantize_per_tensor on its "
                             "input: qhw imports converted torch.ao models")
        return self.b.graph

    inputs_quantized = False

    def step(self, n) -> None:
        """One fx node the float importer maps (placeholder, output, float modules, functions)."""
        if n.op == "placeholder":
            self.placeholder(n)
        elif n.op == "output":
            self.output(n)
        elif n.op == "call_module":
            handler = getattr(self, "mod_" + type(self.modules[n.target]).__name__, None)
            if handler is None or type(self.modules[n.target]).__name__ not in _ON_CODES_MODULES:
                raise self.unsupported(n)
            handler(n, self.modules[n.target])
        else:
            self.function(n)

    context = " in a torch.ao quantized model"
    supported_text = (f"supported: quantized {', '.join(SUPPORTED_QUANTIZED)}; on quantized tensors: "
                      f"{', '.join(SUPPORTED_ON_CODES)}")

    def function(self, n) -> None:
        t = n.target
        fname = t if isinstance(t, str) else getattr(t, "__name__", "")
        if fname == "quantize_per_tensor" and n.op == "call_function":
            args = list(n.args) + [n.kwargs.get(k) for k in ("scale", "zero_point", "dtype")][len(n.args) - 1:]
            scale, zp = (self._const(n, a) for a in args[1:3])
            self.quantize(n, self.arg(n), float(np.asarray(scale).ravel()[0]),
                          int(np.asarray(zp).ravel()[0]), args[3])
            return
        if fname == "dequantize":
            self.alias(n, self.arg(n), "dequantized (the output's codes and scale)")
            return
        ops = self.torch.ops.quantized
        if n.op == "call_function" and t in (ops.add, ops.add_relu):
            # FloatFunctional.add / add_relu after convert: dequantize both, add, (ReLU), quantize
            a, b = self.arg(n, 0), self.arg(n, 1)
            if (a.cf, a.shape) != (b.cf, b.shape) or (a.perm is None) != (b.perm is None) \
                    or (a.perm is not None and not np.array_equal(a.perm, b.perm)):
                raise self.unsupported(n, f"add of tensors in different layouts {a.shape}, {b.shape}")
            self.emit(n, "add", [a, b])
            self.b.graph.node(self.vals[n].name).qparams = _qparams_of(
                n.meta.get("tensor_meta"), f"output of {n.name!r}")
            if t is ops.add_relu:
                self.emit(n, "relu", [self.vals[n]])
            return
        if n.op == "call_function" and t in (ops.cat, self.torch.cat):
            self.cat(n)  # torch.cat of quantized tensors: equal qparams (ATen refuses others)
            return
        if n.op == "call_function" and t is ops.leaky_relu:  # FX: output qparams as attributes
            kw = dict(n.kwargs)
            scale, zp = (self._const(n, kw.get(k)) for k in ("output_scale", "output_zero_point"))
            slope = float(kw.get("negative_slope", n.args[1] if len(n.args) > 1 else 0.01))
            self.code_table(n, lambda q: ops.leaky_relu(q, slope, False, float(np.asarray(scale).ravel()[0]),
                                                        int(np.asarray(zp).ravel()[0])))
            return
        nn_f = self.torch.nn.functional
        tables = {"sigmoid": self.torch.sigmoid, "tanh": self.torch.tanh, "hardsigmoid": nn_f.hardsigmoid,
                  "leaky_relu": nn_f.leaky_relu}
        if fname in tables and (n.op == "call_method" or t in _functions(self.torch, fname)):
            extra = [a for a in n.args[1:] if isinstance(a, (int, float))]
            kw = {k: v for k, v in n.kwargs.items() if k in ("negative_slope",)}
            f = tables[fname]
            self.code_table(n, lambda q: f(q, *extra, **kw))
            return
        if n.op == "call_function" and fname in ("adaptive_avg_pool2d", "avg_pool2d") \
                and t in (getattr(nn_f, fname), getattr(self.torch._C._nn, fname, None)):
            self.avg_pool(n, **self._pool_args(n, fname == "adaptive_avg_pool2d"))
            return
        if fname in ("relu6", "hardtanh") and n.op == "call_function":
            raise self.unsupported(n, "call the module (nn.ReLU6 / nn.Hardtanh) instead")
        super().function(n)

    def _const(self, n, a):
        if a in self.consts:
            v = self.consts[a]
            return v.detach().cpu().numpy() if hasattr(v, "detach") else v
        if isinstance(a, (int, float)):
            return a
        raise self.unsupported(n, "scale and zero point must be constants")

    # ----------------------------------------------------------------- quantization boundary
    def quantize(self, n, x, scale: float, zp: int, dtype) -> None:
        src = self.b.graph.node(x.name)
        if src.op != "input":
            raise self.unsupported(n, "a quantization that does not read a model input directly "
                                      "(float operations before it run on the host: not yet "
                                      "imported from torch)")
        if src.qparams is not None:
            raise self.unsupported(n, f"input {src.name!r} is quantized twice")
        src.qparams = _dtype_qparams(scale, zp, dtype, f"quantization of input {src.name!r}")
        src.attrs["quantizer"] = "torch"
        self.inputs_quantized = True
        self.alias(n, x, "quantize (input codes)")

    def q_Quantize(self, n, m) -> None:
        self.quantize(n, self.arg(n), float(m.scale), int(m.zero_point), m.dtype)

    def q_DeQuantize(self, n, m) -> None:
        self.alias(n, self.arg(n), "dequantized (the output's codes and scale)")

    # ----------------------------------------------------------------- MACs
    def _input_qp(self, n, x) -> QuantParams:
        return _qparams_of(n.args[0].meta.get("tensor_meta"), f"input of {n.target!r}")

    def _weight(self, n, m) -> tuple[np.ndarray, QuantParams, np.ndarray]:
        """Real weights s * (q - z) (float64, PyTorch layout), their QuantParams (per output
        channel on qhw's last axis) and the per-channel float32 scales."""
        torch = self.torch
        w = m.weight()
        q = w.int_repr().numpy().astype(np.int64)
        if w.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            s = np.full(q.shape[0], float(w.q_scale()))
            z = np.full(q.shape[0], int(w.q_zero_point()), np.int64)
        elif w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            if int(w.q_per_channel_axis()) != 0:
                raise self.unsupported(n, "weights quantized along an axis other than the output channel")
            s = w.q_per_channel_scales().numpy().astype(np.float64)
            z = w.q_per_channel_zero_points().numpy().astype(np.int64)
        else:
            raise self.unsupported(n, f"weight quantization scheme {w.qscheme()}")
        if w.dtype != torch.qint8:
            raise self.unsupported(n, f"weight dtype {w.dtype} (only qint8)")
        s = s.astype(np.float32).astype(np.float64)
        shape = (-1,) + (1,) * (q.ndim - 1)
        real = s.reshape(shape) * (q - z.reshape(shape))
        if np.all(s == s[0]) and np.all(z == z[0]):
            qp = QuantParams(float(s[0]), int(z[0]), 8, True)
        else:
            qp = QuantParams(tuple(s), tuple(int(v) for v in z), 8, True, axis=-1)
        return real, qp, s

    def _bias(self, name: str, m, sx: float, sw: np.ndarray) -> None:
        b = m.bias()
        if b is None:
            return
        aw = np.float32(sx) * sw.astype(np.float32)  # fbgemm's act_times_w_scale, float32
        self.bias_lsb[name] = (_np(b).astype(np.float32) / aw).astype(np.float32).astype(np.float64)

    def _finish(self, n, m, relu: bool) -> None:
        """Quantize the accumulator to the module's output (scale, zero point; ReLU fused)."""
        name = self.vals[n].name
        out_qp = _qparams_of(n.meta.get("tensor_meta"), f"output of {n.target!r}")
        if relu:
            self.emit(n, "relu", [self.vals[n]])
            self.b.graph.node(self.vals[n].name).qparams = out_qp
            self.report.rows[-1].op = "relu (fused)"
        else:
            self.b.graph.node(name).qparams = out_qp

    def _qlinear(self, n, m, relu: bool) -> None:
        x = self.arg(n)
        if x.cf:
            raise self.unsupported(n, f"Linear over the last axis of a channels-first tensor of "
                                      f"shape {x.shape} (flatten it first)")
        sx = float(self._input_qp(n, x).scale)
        real, qp, s = self._weight(n, m)
        w = real.T
        if x.perm is not None:
            w = w[x.perm]
        self.emit(n, "dense", [x], params={"weight": w}, cf=False, perm=None)
        name = self.vals[n].name
        self.weights[name] = qp
        self._bias(name, m, sx, s)
        self._finish(n, m, relu)

    def q_Linear(self, n, m) -> None:
        self._qlinear(n, m, False)

    def q_LinearReLU(self, n, m) -> None:
        self._qlinear(n, m, True)

    def _qconv(self, n, m, dims: int, relu: bool) -> None:
        x = self.arg(n)
        if not x.cf or len(x.shape) != dims + 1:
            raise self.unsupported(n, f"input of shape {x.shape} is not channels-first")
        if m.groups != 1 or m.padding_mode != "zeros":
            raise self.unsupported(n, f"groups={m.groups}, padding_mode={m.padding_mode!r} "
                                      "(only groups=1 with zero padding)")
        sx = float(self._input_qp(n, x).scale)
        real, qp, s = self._weight(n, m)
        k, d = _pair(m.kernel_size, dims), _pair(m.dilation, dims)
        pads = list(_pair(m.padding, dims)) * 2
        attrs = {"kernel_size": list(k), "stride": list(_pair(m.stride, dims)), "dilation": list(d),
                 "padding": pads}
        weight = np.transpose(real, tuple(range(2, 2 + dims)) + (1, 0))
        self.emit(n, f"conv{dims}d", [x], attrs, {"weight": weight}, cf=True, perm=None)
        name = self.vals[n].name
        self.weights[name] = qp
        self._bias(name, m, sx, s)
        self._finish(n, m, relu)

    def q_Conv1d(self, n, m) -> None:
        self._qconv(n, m, 1, False)

    def q_Conv2d(self, n, m) -> None:
        self._qconv(n, m, 2, False)

    def q_ConvReLU1d(self, n, m) -> None:
        self._qconv(n, m, 1, True)

    def q_ConvReLU2d(self, n, m) -> None:
        self._qconv(n, m, 2, True)

    def _clamp_codes(self, n, op: str, attrs=None) -> None:
        """A clamp of quantized codes at the codes of its real bounds (PyTorch quantizes the
        bounds with the tensor's own scale and zero point): the input's qparams kept."""
        x = self.arg(n)
        self.emit(n, op, [x], attrs)
        self.b.graph.node(self.vals[n].name).qparams = _qparams_of(
            n.args[0].meta.get("tensor_meta"), f"input of {n.target!r}")

    def q_ReLU6(self, n, m) -> None:
        self._clamp_codes(n, "relu6")

    def mod_Hardtanh(self, n, m) -> None:
        self._clamp_codes(n, "clip", {"min_value": float(m.min_val), "max_value": float(m.max_val)})

    # ----------------------------------------------------------------- code tables
    def _all_codes(self, meta, shape=None):
        """A quantized tensor holding every code of ``meta``'s dtype with its scale and zero
        point (1-D, or ``shape`` with the codes along the axis of length -1)."""
        torch = self.torch
        info = torch.iinfo(torch.uint8 if meta.dtype == torch.quint8 else torch.int8)
        codes = torch.arange(info.min, info.max + 1, dtype=torch.int64)
        if shape is not None:
            codes = codes.reshape([-1 if d == -1 else 1 for d in shape]).expand(
                [codes.numel() if d == -1 else d for d in shape])
        raw = codes.to(torch.uint8 if meta.dtype == torch.quint8 else torch.int8).contiguous()
        return torch._make_per_tensor_quantized_tensor(raw, float(meta.qparams["scale"]),
                                                       int(meta.qparams["zero_point"]))

    def code_table(self, n, fn) -> None:
        """An elementwise function of quantized codes as the table of ``fn``'s output code for
        every input code (``fn`` is the quantized torch op itself)."""
        x = self.arg(n)
        meta = n.args[0].meta.get("tensor_meta")
        _qparams_of(meta, f"input of {n.name!r}")
        with self.torch.no_grad():
            y = fn(self._all_codes(meta))
        if not getattr(y, "is_quantized", False):
            raise self.unsupported(n, "its output on quantized codes is not quantized")
        qp = _dtype_qparams(y.q_scale(), y.q_zero_point(), y.dtype, f"output of {n.name!r}")
        want = _qparams_of(n.meta.get("tensor_meta"), f"output of {n.name!r}")
        if (qp.scale, qp.zero_point) != (want.scale, want.zero_point):
            raise self.unsupported(n, f"its output quantization {want} differs from the op's own "
                                      f"on a table of codes ({qp})")
        self.emit(n, "code_table", [x], params={"table": y.int_repr().numpy().astype(np.int64)})
        self.b.graph.node(self.vals[n].name).qparams = qp
        self.report.rows[-1].op = f"code_table ({y.numel()} codes, computed by PyTorch)"

    def mod_Sigmoid(self, n, m) -> None:
        self.code_table(n, self.torch.sigmoid)

    def mod_Tanh(self, n, m) -> None:
        self.code_table(n, self.torch.tanh)

    def mod_Hardsigmoid(self, n, m) -> None:
        self.code_table(n, self.torch.nn.functional.hardsigmoid)

    def q_LeakyReLU(self, n, m) -> None:
        self.code_table(n, m)

    # ----------------------------------------------------------------- cat
    def cat(self, n) -> None:
        """quantized::cat: inputs whose (scale, zero point) differ from the output's become
        codes of the output through a table computed by quantized::cat itself; then concat."""
        xs = n.args[0]
        dim = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)
        out = n.meta.get("tensor_meta")
        qp = _qparams_of(out, f"output of {n.name!r}")
        if not isinstance(xs, (list, tuple)) or not xs or any(a not in self.vals for a in xs):
            raise self.unsupported(n, "its inputs must be a list of tensors qhw computes")
        ts = [self.vals[a] for a in xs]
        rank = len(ts[0].shape) + 1
        dim = int(dim) % rank
        if dim == 0:
            raise self.unsupported(n, "a cat along the batch axis")
        if any(t.cf != ts[0].cf or len(t.shape) != len(ts[0].shape) for t in ts):
            raise self.unsupported(n, f"cat of tensors in different layouts {[t.shape for t in ts]}")
        metas = [a.meta.get("tensor_meta") for a in xs]
        # the table inputs: every code along the cat axis, in the inputs' rank and memory format
        probe = [1] * rank
        probe[dim] = -1
        if rank == 4:
            probe[3 if dim != 3 else 2] = 2  # so that contiguous and channels-last differ
        with self.torch.no_grad():
            parts = [self._all_codes(mt, probe).contiguous(memory_format=mt.memory_format) for mt in metas]
            y = self.torch.ops.quantized.cat(parts, scale=float(out.qparams["scale"]),
                                             zero_point=int(out.qparams["zero_point"]), dim=dim)
        codes = y.int_repr().numpy().astype(np.int64)
        codes = np.moveaxis(codes, dim, 0).reshape(codes.shape[dim], -1)[:, 0]
        per = codes.size // len(xs)
        inputs = []
        for k, (a, t, mt) in enumerate(zip(xs, ts, metas)):
            qa = _qparams_of(mt, f"input {k} of {n.name!r}")
            if (qa.scale, qa.zero_point) != (qp.scale, qp.zero_point):
                name = self.name(f"{n.name}_in{k}")
                self.b.node(name, "code_table", [t.name], params={"table": codes[k * per:(k + 1) * per]})
                self.b.graph.node(name).qparams = qp
                self.report.rows.append(MappingRow(self.source(n), "cat", name,
                                                   f"code_table (input {k} requantized by quantized::cat)"))
                t = _T(name, t.shape, t.cf, t.perm)
            inputs.append(t)
        if ts[0].cf:
            axis = -1 if dim == 1 else dim - 2
            perm = None
        else:
            axis = dim - 1 - len(ts[0].shape)
            perm = None
            if any(t.perm is not None for t in ts):
                if len(ts[0].shape) != 1:
                    raise self.unsupported(n, "a cat of flattened channels-first tensors of rank > 1")
                offs = np.cumsum([0] + [t.shape[0] for t in ts])
                perm = np.concatenate([(t.perm if t.perm is not None else np.arange(t.shape[0])) + o
                                       for t, o in zip(ts, offs)])
        self.emit(n, "concat", inputs, {"axis": axis}, cf=ts[0].cf, perm=perm)
        self.b.graph.node(self.vals[n].name).qparams = qp

    # ----------------------------------------------------------------- average pooling
    def _pool_args(self, n, adaptive: bool) -> dict:
        names = ("output_size",) if adaptive else ("kernel_size", "stride", "padding", "ceil_mode",
                                                   "count_include_pad", "divisor_override")
        args = dict(zip(names, n.args[1:]))
        args.update({k: v for k, v in n.kwargs.items() if k in names})
        return {"adaptive": adaptive, **args}

    def mod_AvgPool2d(self, n, m) -> None:
        self.avg_pool(n, False, kernel_size=m.kernel_size, stride=m.stride, padding=m.padding,
                      ceil_mode=m.ceil_mode, divisor_override=m.divisor_override)

    def mod_AdaptiveAvgPool2d(self, n, m) -> None:
        self.avg_pool(n, True, output_size=m.output_size)

    def avg_pool(self, n, adaptive: bool, output_size=None, kernel_size=None, stride=None, padding=0,
                 ceil_mode=False, count_include_pad=True, divisor_override=None) -> None:
        """Average pooling of quantized codes (see the module docstring): the exact window sum
        of the codes q = d + z (a conv2d with 0/1 weights and bias N*z), then a table
        S -> rint(S / N) - z (half to even, as PyTorch rounds)."""
        x = self.arg(n)
        meta = n.args[0].meta.get("tensor_meta")
        qp = _qparams_of(meta, f"input of {n.name!r}")
        if not x.cf or len(x.shape) != 3:
            raise self.unsupported(n, f"input of shape {x.shape} is not channels-first (C, H, W)")
        c, hw = x.shape[0], x.shape[1:]
        if adaptive:
            size = _pair(output_size if output_size is not None else hw, 2) \
                if not isinstance(output_size, (tuple, list)) else \
                tuple(int(o) if o is not None else h for o, h in zip(output_size, hw))
            if any(h % o for h, o in zip(hw, size)):
                raise self.unsupported(n, f"output size {size} does not divide the input {hw} "
                                          "(only uniform windows)")
            k = tuple(h // o for h, o in zip(hw, size))
            st = k
        else:
            k = _pair(kernel_size, 2)
            st = _pair(stride, 2) if stride not in (None, [], ()) else k
            if any(_pair(padding, 2)) or ceil_mode or divisor_override is not None:
                raise self.unsupported(n, "padding, ceil_mode or divisor_override (only plain windows)")
        taps = k[0] * k[1]
        z = int(qp.zero_point)
        weight = np.zeros(k + (c, c))
        weight[:, :, np.arange(c), np.arange(c)] = 1.0
        total = self.name(f"{self.source(n)}_sum")
        self.b.node(total, "conv2d", [x.name], {"kernel_size": list(k), "stride": list(st),
                                                 "dilation": [1, 1], "padding": [0, 0, 0, 0]},
                    {"weight": weight})
        self.weights[total] = QuantParams(1.0, 0, 2, True)
        self.bias_lsb[total] = np.full(c, float(taps * z))
        signed = qp.qmin < 0  # qint8: S = sum of codes q in [taps * qmin, taps * qmax]
        bits = max(int(taps * qp.qmax).bit_length(), int(-taps * qp.qmin - 1).bit_length(), 1) + int(signed)
        self.b.graph.node(total).qparams = QuantParams(qp.scale, 0, bits, signed)
        self.report.rows.append(MappingRow(self.source(n), self.kind(n), total,
                                           f"conv2d (window sum of the codes, {taps} taps)"))
        S = np.arange(-(1 << (bits - 1)) if signed else 0, 1 << (bits - int(signed)), dtype=np.int64)
        q, r = np.divmod(S, taps)  # floor quotient, remainder >= 0 (negative sums too)
        up = (2 * r > taps) | ((2 * r == taps) & (q % 2 == 1))  # half to even
        table = np.clip(q + up, qp.qmin, qp.qmax)
        self.emit(n, "code_table", [_T(total, x.shape, True)], params={"table": table}, cf=True, perm=None)
        self.b.graph.node(self.vals[n].name).qparams = qp
        self.report.rows[-1].op = f"code_table (rint(sum / {taps}), half to even)"


#: float modules qhw maps on quantized tensors (codes kept, or a table / window sum of codes)
_ON_CODES_MODULES = ("ReLU", "Hardtanh", "MaxPool1d", "MaxPool2d", "Flatten", "Identity", "Dropout",
                     "Sigmoid", "Tanh", "Hardsigmoid", "AvgPool2d", "AdaptiveAvgPool2d")


def _attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ TorchScript archives
#: TorchScript module types (qualified names without ``__torch__.``) qhw rebuilds
_TS_MODULES = {
    "torch.ao.nn.quantized.modules.Quantize": "quantize",
    "torch.ao.nn.quantized.modules.DeQuantize": "dequantize",
    "torch.ao.nn.quantized.modules.linear.Linear": "linear",
    "torch.ao.nn.intrinsic.quantized.modules.linear_relu.LinearReLU": "linear_relu",
    "torch.ao.nn.quantized.modules.conv.Conv1d": "conv1d",
    "torch.ao.nn.quantized.modules.conv.Conv2d": "conv2d",
    "torch.ao.nn.intrinsic.quantized.modules.conv_relu.ConvReLU1d": "conv_relu1d",
    "torch.ao.nn.intrinsic.quantized.modules.conv_relu.ConvReLU2d": "conv_relu2d",
    "torch.ao.nn.quantized.modules.activation.ReLU6": "relu6",
    "torch.ao.nn.quantized.modules.activation.LeakyReLU": "leaky_relu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.activation.Hardsigmoid": "hardsigmoid",
    "torch.nn.modules.pooling.AvgPool2d": "avgpool2d",
    "torch.nn.modules.pooling.AdaptiveAvgPool2d": "adaptive_avgpool2d",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.dropout.Dropout": "identity",
    "torch.nn.modules.pooling.MaxPool1d": "maxpool1d",
    "torch.nn.modules.pooling.MaxPool2d": "maxpool2d",
    "torch.nn.modules.flatten.Flatten": "flatten",
}
_QUANT_DTYPES = {12: "qint8", 13: "quint8"}  # c10::ScalarType codes in a TorchScript graph
_QFUNCTIONAL = ("torch.ao.nn.quantized.modules.functional_modules.QFunctional",)
#: TorchScript aten functions on quantized tensors -> the torch function the fx graph calls
_TS_FUNCTIONS = {
    "aten::sigmoid": lambda t: t.sigmoid, "aten::tanh": lambda t: t.tanh,
    "aten::hardsigmoid": lambda t: t.nn.functional.hardsigmoid, "aten::cat": lambda t: t.cat,
    "aten::avg_pool2d": lambda t: t._C._nn.avg_pool2d,
    "aten::adaptive_avg_pool2d": lambda t: t.nn.functional.adaptive_avg_pool2d,
}


def _ts_type(obj) -> str:
    """The module's Python class path (TorchScript mangles a second variant of one class, e.g.
    another constant output_size, as ``...___torch_mangle_N.Class``)."""
    import re

    name = re.sub(r"\.___torch_mangle_\d+(?=\.)", "", obj._c._type().qualified_name())
    return name[len("__torch__."):] if name.startswith("__torch__.") else name


def _rebuild_module(torch, obj, where: str):
    """A genuine torch.ao / torch.nn module equal to the TorchScript submodule ``obj`` (read
    from attributes and builtin unpack ops; none of the archive's code runs)."""
    nn, nnq = torch.nn, torch.ao.nn.quantized
    nniq = torch.ao.nn.intrinsic.quantized
    kind = _TS_MODULES.get(_ts_type(obj))
    if kind is None:
        raise ModelError(f"{where}: TorchScript module type {_ts_type(obj)!r} is not supported; "
                         f"supported: {', '.join(sorted(t.rsplit('.', 1)[1] for t in _TS_MODULES))}")
    qops = torch.ops.quantized
    if kind == "quantize":
        dtype = getattr(torch, _QUANT_DTYPES.get(int(obj.dtype), ""), None)
        if dtype is None:
            raise ModelError(f"{where}: quantized dtype code {int(obj.dtype)} is not supported")
        return nnq.Quantize(float(obj.scale), int(obj.zero_point), dtype)
    if kind == "dequantize":
        return nnq.DeQuantize()
    if kind in ("linear", "linear_relu"):
        w, b = qops.linear_unpack(obj._packed_params._packed_params)
        new = (nnq.Linear if kind == "linear" else nniq.LinearReLU)(w.shape[1], w.shape[0], dtype=torch.qint8)
        new.set_weight_bias(w, b)
    elif kind.startswith("conv"):
        dims = int(kind[-2])
        packed = obj._packed_params
        w, b = (qops.conv1d_unpack if dims == 1 else qops.conv2d_unpack)(packed)
        geo = [list(f(packed))[-dims:] for f in (qops.conv2d_stride, qops.conv2d_padding,
                                                  qops.conv2d_dilation)]
        groups = int(qops.conv2d_groups(packed))
        cls = {"conv1d": nnq.Conv1d, "conv2d": nnq.Conv2d, "conv_relu1d": nniq.ConvReLU1d,
               "conv_relu2d": nniq.ConvReLU2d}[kind]
        new = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=tuple(geo[0]),
                  padding=tuple(geo[1]), dilation=tuple(geo[2]), groups=groups, bias=b is not None)
        new.set_weight_bias(w, b)
    elif kind == "relu6":
        return nnq.ReLU6()
    elif kind == "leaky_relu":
        return nnq.LeakyReLU(float(obj.scale), int(obj.zero_point), float(obj.negative_slope))
    elif kind in ("sigmoid", "tanh", "hardsigmoid"):
        return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "hardsigmoid": nn.Hardsigmoid}[kind]()
    elif kind == "avgpool2d":
        return nn.AvgPool2d(obj.kernel_size, obj.stride, obj.padding, bool(obj.ceil_mode),
                            bool(obj.count_include_pad), obj.divisor_override)
    elif kind == "adaptive_avgpool2d":
        return nn.AdaptiveAvgPool2d(obj.output_size)
    elif kind == "relu":
        return nn.ReLU()
    elif kind == "identity":
        return nn.Identity()
    elif kind.startswith("maxpool"):
        cls = nn.MaxPool1d if kind == "maxpool1d" else nn.MaxPool2d
        return cls(obj.kernel_size, obj.stride, obj.padding, obj.dilation, ceil_mode=bool(obj.ceil_mode))
    else:  # flatten
        return nn.Flatten(int(obj.start_dim), int(obj.end_dim))
    new.scale, new.zero_point = float(obj.scale), int(obj.zero_point)
    return new


def read_torchscript(path) -> tuple:
    """(a torch.fx GraphModule of genuine torch.ao modules equal to the archive's model, the
    input shape the archive records or None). ModelError for anything else."""
    import zipfile
    from pathlib import Path

    torch = _torch()
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{str(path)!r} is not a TorchScript archive (a zip written by torch.jit.save)")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{str(path)!r}: unreadable TorchScript archive: {exc}") from None
    if not any(n.endswith("/constants.pkl") or n.endswith("/data.pkl") for n in names) \
            or not any("/code/" in n for n in names):
        raise ModelError(f"{str(path)!r} is not a TorchScript archive (no code/ and data.pkl; a "
                         "state dict or a pickled module is not read: save with "
                         "torch.jit.save(torch.jit.script(model)))")
    try:
        sm = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # TorchScript's loader raises RuntimeError for any defect
        raise ModelError(f"{str(path)!r}: torch.jit.load failed: {str(exc).splitlines()[0][:200]}") from None
    return _rebuild(torch, sm, str(path))


def _rebuild(torch, sm, where: str):
    import torch.fx as fx

    g = sm.graph
    ins = list(g.inputs())
    if len(ins) != 2:
        raise ModelError(f"{where}: forward takes {len(ins) - 1} inputs; qhw imports single-input models")
    root = torch.nn.Module()
    graph = fx.Graph()
    env: dict = {ins[0].debugName(): ("module", sm, "")}
    x = graph.placeholder("x")
    env[ins[1].debugName()] = ("value", x)
    shape = None
    t = ins[1].type()
    sizes = t.sizes() if hasattr(t, "sizes") else None
    if sizes and all(isinstance(d, int) for d in sizes) and len(sizes) >= 2:
        shape = tuple(sizes[1:])
    added: dict[str, str] = {}
    buffers: dict = {}  # get_attr fx node -> the tensor (scales and zero points read as scalars)
    n_attr = 0

    def val(v, what):
        e = env.get(v.debugName())
        if e is None or e[0] not in ("value", "const"):
            raise ModelError(f"{where}: {what} reads a value qhw did not map")
        return e[1]

    for node in g.nodes():
        kind = node.kind()
        outs = list(node.outputs())
        inputs = list(node.inputs())
        if kind == "prim::Constant":
            env[outs[0].debugName()] = ("const", outs[0].toIValue())
        elif kind == "prim::GetAttr":
            owner = env.get(inputs[0].debugName())
            if owner is None or owner[0] != "module":
                raise ModelError(f"{where}: attribute {node.s('name')!r} of a value that is not a module")
            obj = getattr(owner[1], node.s("name"))
            path = f"{owner[2]}.{node.s('name')}" if owner[2] else node.s("name")
            if isinstance(obj, torch.jit.ScriptModule):
                env[outs[0].debugName()] = ("module", obj, path)
            elif isinstance(obj, torch.Tensor):
                n_attr += 1
                attr = f"_qhw_attr{n_attr}"
                root.register_buffer(attr, obj.detach().clone())
                node_ = graph.get_attr(attr)
                buffers[node_] = obj.detach().clone()
                env[outs[0].debugName()] = ("value", node_)
            else:
                env[outs[0].debugName()] = ("const", obj)
        elif kind == "prim::ListConstruct":
            env[outs[0].debugName()] = ("const", [val(v, kind) for v in inputs])
        elif kind in ("aten::FloatImplicit", "aten::IntImplicit"):  # a tensor attribute as a scalar
            v = val(inputs[0], kind)
            t = buffers.get(v) if isinstance(v, fx.Node) else v
            if t is None:
                raise ModelError(f"{where}: {kind} of a computed tensor is not supported")
            env[outs[0].debugName()] = ("const", float(t) if kind == "aten::FloatImplicit" else int(t))
        elif kind == "prim::CallMethod" and env.get(inputs[0].debugName(), ("",))[0] == "module" \
                and _ts_type(env[inputs[0].debugName()][1]) in _QFUNCTIONAL \
                and node.s("name") in ("add", "add_relu", "cat"):
            # FloatFunctional after convert: quantized::add / add_relu / cat with its qparams
            q = env[inputs[0].debugName()][1]
            a = [val(v, node.s("name")) for v in inputs[1:]]
            kw = {"scale": float(q.scale), "zero_point": int(q.zero_point)}
            if node.s("name") == "cat":
                kw["dim"] = a.pop() if len(a) > 1 else 0
            op = getattr(torch.ops.quantized, node.s("name"))
            env[outs[0].debugName()] = ("value", graph.call_function(op, tuple(a), kw))
        elif kind in _TS_FUNCTIONS:
            a = [val(v, kind) for v in inputs]
            env[outs[0].debugName()] = ("value", graph.call_function(_TS_FUNCTIONS[kind](torch), tuple(a)))
        elif kind == "quantized::leaky_relu":
            a = [val(v, kind) for v in inputs]
            kw = dict(zip(("negative_slope", "inplace", "output_scale", "output_zero_point"), a[1:]))
            env[outs[0].debugName()] = ("value", graph.call_function(torch.ops.quantized.leaky_relu,
                                                                     (a[0],), kw))
        elif kind == "prim::CallMethod":
            owner = env.get(inputs[0].debugName())
            if owner is None or owner[0] != "module" or node.s("name") != "forward" or len(inputs) != 2:
                raise ModelError(f"{where}: a call of method {node.s('name')!r} is not supported "
                                 "(only a submodule's forward on one tensor)")
            path = owner[2]
            if path not in added:
                target = path.replace(".", "_") or "model"
                root.add_module(target, _rebuild_module(torch, owner[1], f"{where}: module {path!r}"))
                added[path] = target
            env[outs[0].debugName()] = ("value", graph.call_module(added[path], (val(inputs[1], path),)))
        elif kind == "aten::quantize_per_tensor":
            a = [val(v, kind) for v in inputs]
            dtype = getattr(torch, _QUANT_DTYPES.get(int(a[3]), ""), None) if isinstance(a[3], int) else None
            if dtype is None:
                raise ModelError(f"{where}: quantize_per_tensor to dtype {a[3]!r} is not supported")
            env[outs[0].debugName()] = ("value", graph.call_function(torch.quantize_per_tensor,
                                                                     (a[0], a[1], a[2], dtype)))
        elif kind == "aten::dequantize":
            env[outs[0].debugName()] = ("value", graph.call_method("dequantize", (val(inputs[0], kind),)))
        elif kind == "aten::flatten":
            a = [val(v, kind) for v in inputs]
            env[outs[0].debugName()] = ("value", graph.call_function(torch.flatten, tuple(a)))
        elif kind in ("aten::relu", "aten::relu_"):
            env[outs[0].debugName()] = ("value", graph.call_function(torch.relu, (val(inputs[0], kind),)))
        else:
            raise ModelError(f"{where}: TorchScript operation {kind!r} is not supported; supported: "
                             "submodule calls, FloatFunctional add/add_relu/cat, quantize_per_tensor, "
                             f"dequantize, flatten, relu, quantized::leaky_relu, "
                             f"{', '.join(k.split('::')[1] for k in _TS_FUNCTIONS)}")
    outs = list(g.outputs())
    if len(outs) != 1:
        raise ModelError(f"{where}: forward returns {len(outs)} values; qhw imports one output")
    graph.output(val(outs[0], "the output"))
    return fx.GraphModule(root, graph), shape


def load_torchscript(path, *, input_shape=None, config=None, default=None,
                     report: MappingReport | None = None) -> Graph:
    """A TorchScript archive of a converted torch.ao model as a prepared qhw graph (see the
    module docstring). input_shape: one sample's shape in PyTorch's layout, without the batch
    axis; needed unless the archive records it."""
    gm, recorded = read_torchscript(path)
    shape = tuple(input_shape) if input_shape else recorded
    if not shape:
        raise ModelError(f"{str(path)!r}: the archive does not record its input shape; give it "
                         "(--input-shape, e.g. 3,32,32 for a CHW image)")
    if not is_quantized_module(gm):
        raise ModelError(f"{str(path)!r}: no torch.ao quantized module in the archive (qhw imports "
                         "converted torch.ao models from TorchScript)")
    return load_torch_quantized(gm, shape, config=config, default=default, report=report)


def import_torch_quantized(module, example_input_shape, *, input_layout: str = "channels_first"
                           ) -> tuple[Graph, MappingReport]:
    """The lowered integer graph of a converted torch.ao model and its mapping report."""
    from qhw.passes.lower_affine import AffineGraph, lower_affine

    torch = _torch()
    gm = trace(module, example_input_shape)
    imp = _QuantImporter(torch, gm, input_layout)
    affine = imp.run()
    tr: dict[str, list[str]] = {}
    graph = lower_affine(AffineGraph(affine, imp.weights, bias_lsb=imp.bias_lsb,
                                     multiplier="float32", exact=False), tr)
    imp.report.notes = [n for n in graph.notes if "narrower than lossless" not in n]
    imp.report.describe(graph, tr)
    return graph, imp.report


def load_torch_quantized(module, example_input_shape, *, input_layout: str = "channels_first",
                         config=None, default=None, report: MappingReport | None = None) -> Graph:
    """:func:`import_torch_quantized` as a prepared graph (see :func:`qhw.passes.prepare`)."""
    graph, rep = import_torch_quantized(module, example_input_shape, input_layout=input_layout)
    return deliver(graph, rep, report, config, default)


__all__ = ["import_torch_quantized", "load_torch_quantized", "is_quantized_module",
           "read_torchscript", "load_torchscript",
           "SUPPORTED_QUANTIZED", "SUPPORTED_ON_CODES"]
