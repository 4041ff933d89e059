"""softmax over the last axis, as hardware computes it; and its argmax-only variant.

variant "stable" (default): m = max(x); d = x - m (exact, <= 0); e = exp ROM(d) (qhw.tables,
input range [-8, 0), ``table_size`` entries of the ``exp_table`` format); s = sum(e) exactly in
the ``accum`` format; r = reciprocal ROM(s) (input range [0, 2^ceil(log2 N)), ``table_size``
entries of the ``inv_table`` format); y = result.cast(e * r) (exact product, then the result
format's rounding and overflow). Every step is an integer operation on codes: this is the
specification the RTL and HLS implement.

variant "argmax": the index of the first maximum (ap_uint<ceil(log2 N)>), the cheap output when
only the class matters. Float mode: the true softmax / argmax.

variant "hls4ml": hls4ml 1.3.0's softmax, bit for bit, in the ``implementation`` it names
(``latency``, ``stable`` (hls4ml's default), ``argmax``, ``legacy``), with hls4ml's types and table
sizes (slots exp_table, inv_table, accum, inv_inp, inp_norm, table, result; attrs table_size,
exp_table_size, inv_table_size, exp_scale, skip). An hls4ml config (qhw.config.ModelConfig)
selects it for every softmax node; see docs/hls4ml_activations.md.

- latency: e_i = accum(exp_table[top bits of x_i]); s = inv_inp(tree sum of e_i in accum, each
  add assigned to accum); y_i = result(e_i * inv_table[top bits of s]).
- stable: as latency on d_i = inp_norm(max(x) - x_i), the exp table built for exp(-d).
- legacy: s_i = sum over j in table (in order, each add assigned to table) of
  exp_table[trunc((x_j - x_i) N / 16) + N / 2] (1 for j = i); y_i = result(inv_table[s_i N / 64]).
- argmax: one-hot of the first maximum (result(1) there, 0 elsewhere).
- skip: hls4ml removes the layer; the output is the input.
"""
from __future__ import annotations

import math

import numpy as np

import qhw.fixed as qf
from qhw import limits
from qhw.errors import ConfigError, ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register
from qhw.tables import build_rom
from qhw.tables import hls4ml as h4

VARIANTS = ("stable", "argmax", "hls4ml")
IMPLEMENTATIONS = ("latency", "stable", "argmax", "legacy")
EXP_RANGE = (-8.0, 0.0)
#: hls4ml's defaults for the softmax type attributes (exp_table_t, inv_table_t, inv_inp_t)
H4_TABLE = FixedFormat(18, 8, True, "RND", "SAT")
#: config keys (hls4ml's snake_case spelling) that set node attributes
CONFIG_ATTRS = ("table_size", "implementation", "exp_table_size", "inv_table_size", "exp_scale", "skip")


def _log2ceil(n: int) -> int:
    return max(1, math.ceil(math.log2(n)))


@register
class Softmax(OpDef):
    traits = frozenset({Trait.TABLE})
    name = "softmax"
    hls4ml_class = "Softmax"
    hls4ml_slots = ("accum", "result")  # accum_t: every partial sum of the exp sum tree

    def table_size_pow2(self, node) -> bool:
        """table_size is always a power of two (its ROMs address with the top bits)."""
        return True
    attrs = {"variant": "stable", "table_size": 1024, "implementation": "stable", "exp_table_size": None,
             "inv_table_size": None, "exp_scale": 1.0, "skip": False}

    def check(self, node):
        super().check(node)
        a = node.attrs
        if a["variant"] not in VARIANTS:
            raise ModelError(f"softmax {node.name!r}: variant {a['variant']!r} is not one of {VARIANTS}")
        if a["implementation"] not in IMPLEMENTATIONS:
            raise ModelError(f"softmax {node.name!r}: implementation {a['implementation']!r} is not one of "
                             f"{IMPLEMENTATIONS}")
        for key in ("table_size", "exp_table_size", "inv_table_size"):
            v = a[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ModelError(f"softmax {node.name!r}: {key} must be an integer >= 1, got {v!r}")
            if v is not None:
                limits.check("table_entries", v, f"softmax {node.name!r} {key}")
        if not isinstance(a["skip"], bool):
            raise ModelError(f"softmax {node.name!r}: skip must be true or false, got {a['skip']!r}")
        v = a["exp_scale"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ModelError(f"softmax {node.name!r}: exp_scale must be a finite number, got {v!r}")

    def configure(self, node, config) -> None:
        """An hls4ml config: hls4ml's softmax (unless the node asks for qhw's argmax index), with
        the config's implementation, table sizes, exp_scale and skip."""
        if node.attrs["variant"] == "argmax":
            return
        node.attrs["variant"] = "hls4ml"
        for key in CONFIG_ATTRS:
            v = config.attr(node.name, node.op, key)
            if v is None:
                continue
            if key == "implementation":
                v = str(v).lower()
                if v not in IMPLEMENTATIONS:
                    raise ConfigError(f"{node.name}.implementation: {v!r} is not one of {', '.join(IMPLEMENTATIONS)}")
            elif key == "skip":
                if not isinstance(v, bool):
                    raise ConfigError(f"{node.name}.skip: expected true or false, got {v!r}")
            elif key == "exp_scale":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"{node.name}.exp_scale: expected a number, got {v!r}")
                v = float(v)
            else:
                try:
                    v = int(v)  # hls4ml's own passes write table_size as a string
                except (TypeError, ValueError):
                    v = 0
                if v < 1 or str(v) != str(config.attr(node.name, node.op, key)).strip():
                    raise ConfigError(f"{node.name}.{key}: expected an integer >= 1, got "
                                      f"{config.attr(node.name, node.op, key)!r}")
                limits.check("table_entries", v, f"config {node.name}.{key}")
            node.attrs[key] = v

    def infer_shape(self, node, in_shapes):
        if len(in_shapes[0]) != 1 or in_shapes[0][0] < 1:
            raise ModelError(f"softmax {node.name!r}: input must be a vector (N,), got {in_shapes[0]}")
        node._raw_cache["softmax_n"] = int(in_shapes[0][0])  # format inference needs N
        return (1,) if node.attrs["variant"] == "argmax" else tuple(in_shapes[0])

    def infer_formats(self, node, in_fmts, ctx):
        if node.attrs["variant"] == "hls4ml":
            return self._hls4ml_formats(node, in_fmts[0], ctx)
        n = self._n(node, in_fmts)
        if node.attrs["variant"] == "argmax":
            node.formats["result"] = ctx.choose(node, "result", FixedFormat(_log2ceil(n), _log2ceil(n), False))
            return
        exp_f = ctx.choose(node, "exp_table", None, FixedFormat(18, 1, False, "RND", "SAT"))
        lg = _log2ceil(n)
        node.formats["exp_table"] = exp_f
        node.formats["accum"] = ctx.choose(node, "accum", FixedFormat(exp_f.width + lg, exp_f.integer_bits + lg, False))
        node.formats["inv_table"] = ctx.choose(node, "inv_table", None, FixedFormat(18, 2, False, "RND", "SAT"))
        node.formats["result"] = ctx.choose(node, "result", None, FixedFormat(ctx.default.width, 1, False, "RND", "SAT"))

    def _hls4ml_formats(self, node, x: FixedFormat, ctx) -> None:
        """hls4ml's types: the config's, else hls4ml's defaults (accum and result: the Model
        precision, as hls4ml's get_precision falls back to it)."""
        impl, f = node.attrs["implementation"], node.formats
        if node.attrs["skip"]:
            f["result"] = x  # hls4ml removes the layer
            node.inferred.add("result")
            return
        if impl in ("latency", "stable", "legacy"):
            f["inv_table"] = ctx.choose(node, "inv_table", None, H4_TABLE)  # legacy: sizes only
        if impl == "legacy":  # hls4ml's softmax config struct never sets table_t: activ_config's
            if "table" not in f:  # ap_fixed<18,8> always (a config's table_t has no effect)
                f["table"] = FixedFormat(18, 8)
                node.inferred.add("table")
        if impl in ("latency", "stable"):
            f["exp_table"] = ctx.choose(node, "exp_table", None, H4_TABLE)
            f["accum"] = ctx.choose(node, "accum", None, ctx.default)
            f["inv_inp"] = ctx.choose(node, "inv_inp", None, H4_TABLE)
        if impl == "stable":
            s = int(x.signed)
            f["inp_norm"] = ctx.choose(node, "inp_norm", None, FixedFormat(x.width - s, x.integer_bits - s, False))
        f["result"] = ctx.choose(node, "result", None, ctx.default)

    def hls4ml_sizes(self, node, x: FixedFormat) -> tuple[int, int]:
        """(exp_table_size, inv_table_size) as hls4ml's FixSoftmaxTableSize pass and softmax
        config template compute them."""
        a = node.attrs
        size, exp_n, inv_n = int(a["table_size"]), a["exp_table_size"], a["inv_table_size"]
        if inv_n is None:  # the pass: at most 2^min(input width, inv_table_t width) entries
            size = min(size, 2 ** min(x.width, node.formats["inv_table"].width))
        exp_n = size if exp_n is None else int(exp_n)
        inv_n = size if inv_n is None else int(inv_n)
        if a["implementation"] == "stable" and "inp_norm" in node.inferred and x.signed:
            exp_n = min(inv_n, 2 ** (x.width - 1))
        return exp_n, inv_n

    def hls4ml_tables(self, node, x: FixedFormat) -> dict:
        """hls4ml's tables for this input format (raw codes), cached on the node."""
        a, f = node.attrs, node.formats
        impl = a["implementation"]
        key = ("softmax-hls4ml", x, impl, repr(sorted(f.items())), repr(sorted(a.items())),
               "inp_norm" in node.inferred)

        def build():
            exp_n, inv_n = self.hls4ml_sizes(node, x)
            try:
                if impl == "legacy":
                    return {"exp_n": exp_n, "inv_n": inv_n,
                            "exp": h4.activation_table("exp", exp_n, f["table"]),
                            "inv": h4.legacy_inverse_table(inv_n, f["table"])}
                addr = f["inp_norm"] if impl == "stable" else x
                h4.check_top_bits(addr, exp_n, "exp table")
                h4.check_top_bits(f["inv_inp"], inv_n, "inverse table")
                return {"exp_n": exp_n, "inv_n": inv_n, "addr": addr,
                        "exp": h4.softmax_exp_table(addr, exp_n, f["exp_table"], impl == "stable",
                                                    float(a["exp_scale"])),
                        "inv": h4.softmax_inverse_table(f["inv_inp"], inv_n, f["inv_table"])}
            except ValueError as exc:
                raise ModelError(f"softmax {node.name!r} (hls4ml {impl}): {exc} (from table_size "
                                 f"{a['table_size']}, exp_table_size {a['exp_table_size']}, inv_table_size "
                                 f"{a['inv_table_size']})") from None

        return node.cached(key, build)

    def _golden_hls4ml(self, node, x, xf: FixedFormat, ctx):
        a, f = node.attrs, node.formats
        impl, res = a["implementation"], f["result"]
        if a["skip"]:
            return x
        n = x.shape[-1]
        if impl == "argmax":
            out = np.zeros(x.shape, np.int64)
            np.put_along_axis(out, np.argmax(x, axis=-1)[..., None], int(res.quantize(1.0)), axis=-1)
            return out
        t = self.hls4ml_tables(node, xf)
        if impl == "legacy":
            tf = f["table"]
            df = FixedFormat(xf.width + 1, xf.integer_bits + 1, True)  # x_j - x_i, exact
            one = int(tf.quantize(1.0))
            cols = []
            for i in range(n):
                acc = np.zeros(x.shape[:-1], np.int64)
                for j in range(n):
                    term = (np.full(acc.shape, one) if i == j else
                            t["exp"][h4.linear_index("exp", x[..., j] - x[..., i], df, t["exp_n"])])
                    acc = tf.cast(*qf.add(acc, tf, term, tf))
                cols.append(acc)
            s = np.stack(cols, axis=-1)
            num, den = (t["inv_n"], 64 << tf.frac_bits) if tf.frac_bits >= 0 else (t["inv_n"] << -tf.frac_bits, 64)
            idx = np.clip(h4.wrap_int32(h4.trunc_div(s * num, den)), 0, t["inv_n"] - 1)
            return ctx.assign(node.name, res, t["inv"][idx], tf)
        ef, acc, ii, tf = f["exp_table"], f["accum"], f["inv_inp"], f["inv_table"]
        if impl == "stable":
            d, dfm = qf.sub(x.max(axis=-1, keepdims=True), xf, x, xf)
            addr_codes = f["inp_norm"].cast(d, dfm)
        else:
            addr_codes = x
        e = acc.cast(t["exp"][h4.top_bits(addr_codes, t["addr"], t["exp_n"])], ef)

        def tree(node_):
            if isinstance(node_, int):
                return e[..., node_]
            return acc.cast(*qf.add(tree(node_[0]), acc, tree(node_[1]), acc))

        s = ii.cast(tree(h4.reduce_order(n)), acc)
        r = t["inv"][h4.top_bits(s, ii, t["inv_n"])]
        prod, pf = qf.mul(e, acc, r[..., None], tf)
        return ctx.assign(node.name, res, prod, pf)

    @staticmethod
    def _n(node, in_fmts) -> int:
        return node._raw_cache["softmax_n"]

    def diff_format(self, x: FixedFormat) -> FixedFormat:
        """x - max(x): exact, one more bit, signed."""
        return FixedFormat(x.width + 1, x.integer_bits + 1, True)

    def tables(self, node, x: FixedFormat, n: int):
        """(exp RomTable on x - max, reciprocal RomTable on the sum), cached on the node."""
        key = ("softmax", x, n, node.formats["exp_table"], node.formats["inv_table"],
               node.formats["accum"], int(node.attrs["table_size"]))

        def build():
            size = int(node.attrs["table_size"])
            try:
                ex = build_rom("exp", self.diff_format(x), node.formats["exp_table"], table_size=size,
                               input_range=EXP_RANGE)
                inv = build_rom("reciprocal", node.formats["accum"], node.formats["inv_table"],
                                table_size=size, input_range=(0.0, float(2 ** _log2ceil(n))))
            except ValueError as exc:
                raise ModelError(f"softmax {node.name!r}: {exc}") from None
            return ex, inv

        return node.cached(key, build)

    def golden(self, node, inputs, in_fmts, ctx):
        x, xf = np.asarray(inputs[0], np.int64), in_fmts[0]
        if node.attrs["variant"] == "hls4ml":
            return self._golden_hls4ml(node, x, xf, ctx)
        if node.attrs["variant"] == "argmax":
            return np.argmax(x, axis=-1)[..., None].astype(np.int64)
        ex, inv = self.tables(node, xf, x.shape[-1])
        d = x - x.max(axis=-1, keepdims=True)
        e = ex.lookup(d)  # raw codes of exp_table
        s = e.sum(axis=-1, keepdims=True)  # exact in accum (lossless by construction)
        r = inv.lookup(s)
        prod, pf = qf.mul(e, node.formats["exp_table"], r, node.formats["inv_table"])
        return ctx.assign(node.name, node.formats["result"], prod, pf)

    def float_eval(self, node, inputs):
        x = np.asarray(inputs[0], np.float64)
        if node.attrs["variant"] == "hls4ml" and node.attrs["skip"]:
            return x
        if node.attrs["variant"] == "hls4ml" and node.attrs["implementation"] == "argmax":
            out = np.zeros(x.shape)
            np.put_along_axis(out, np.argmax(x, axis=-1)[..., None], 1.0, axis=-1)
            return out
        if node.attrs["variant"] == "argmax":
            return np.argmax(x, axis=-1)[..., None].astype(np.float64)
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
