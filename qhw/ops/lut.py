"""sigmoid and tanh through a ROM or piecewise-linear function (qhw.tables), and hard_sigmoid.

attrs: variant ("rom", "half_rom", "pwl", "hls4ml"), table_size, input_range, breakpoints,
pow2_slopes. Slots: result, and ``table`` (the stored entries; hls4ml's table_t).

variant "hls4ml" is hls4ml 1.3.0's table bit for bit (qhw.tables.hls4ml): ``table_size`` entries
of ``table`` (default ap_fixed<18,8>), result by default the Model precision as in hls4ml. An
hls4ml config (qhw.config.ModelConfig) selects it for every sigmoid/tanh node of the default
variant ``rom``, with the config's ``table_size`` and ``table_t``.
"""
from __future__ import annotations

import numpy as np

from qhw import limits
from qhw.errors import ConfigError, ModelError
from qhw.fixed import FixedFormat
from qhw.ops.activation import bound_codes
from qhw.ops.traits import Trait
from qhw.ops.base import OpDef
from qhw.ops.registry import register
from qhw.tables import DEFAULT_BREAKPOINTS, build_pwl, build_rom, evaluate

VARIANTS = ("rom", "half_rom", "pwl", "hls4ml")


class _Lut(OpDef):
    traits = frozenset({Trait.ELEMENTWISE, Trait.TABLE})
    function = ""
    attrs = {"variant": "rom", "table_size": 1024, "input_range": None, "breakpoints": None,
             "pow2_slopes": False}
    hls4ml_class, hls4ml_slots = "Activation", ("result",)

    def check(self, node):
        super().check(node)
        if node.attrs["variant"] not in VARIANTS:
            raise ModelError(f"{self.name} {node.name!r}: variant {node.attrs['variant']!r} is not one of {VARIANTS}")
        n = node.attrs["table_size"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ModelError(f"{self.name} {node.name!r}: table_size must be an integer >= 1, got {n!r}")
        limits.check("table_entries", n, f"{self.name} {node.name!r} table_size")

    def configure(self, node, config) -> None:
        """An hls4ml config: hls4ml's table, of the config's table_size (default 1024). A node
        that asks for one of qhw's other variants (half_rom, pwl) keeps it."""
        if node.attrs["variant"] == "rom":
            node.attrs["variant"] = "hls4ml"
        v = config.attr(node.name, node.op, "table_size")
        if v is not None:
            try:
                n = int(v)  # hls4ml's own passes write it as a string
            except (TypeError, ValueError):
                n = 0
            if isinstance(v, bool) or n < 1 or str(n) != str(v).strip():
                raise ConfigError(f"{node.name}.table_size: expected an integer >= 1, got {v!r}")
            limits.check("table_entries", n, f"config {node.name}.table_size")
            node.attrs["table_size"] = n

    def table_size_pow2(self, node) -> bool:
        """Whether this node's table_size must be a power of two (ROMs address with the top bits)."""
        return node.attrs.get("variant") in ("rom", "half_rom")

    def default_result(self, width: int) -> FixedFormat:
        return FixedFormat(width, 0, False) if self.function == "sigmoid" else FixedFormat(width, 1, True)

    def infer_formats(self, node, in_fmts, ctx):
        h4 = node.attrs["variant"] == "hls4ml"
        result = ctx.choose(node, "result", None, ctx.default if h4 else self.default_result(ctx.default.width))
        fallback = FixedFormat(18, 8) if h4 else result
        node.formats["table"] = ctx.choose(node, "table", None, fallback)
        node.formats["result"] = result

    def table(self, node, in_fmt: FixedFormat):
        """The ROM or PWL object of this node (cached on the node)."""
        a = node.attrs
        key = ("lut", in_fmt, node.formats["table"], node.formats["result"], repr(sorted(a.items())))

        def build():
            rng = tuple(a["input_range"] or ((-8.0, 8.0) if self.function == "sigmoid" else (-4.0, 4.0)))
            try:
                if a["variant"] == "pwl":
                    obj = build_pwl(self.function, in_fmt, node.formats["result"],
                                    breakpoints=a["breakpoints"] or DEFAULT_BREAKPOINTS,
                                    pow2_slopes=bool(a["pow2_slopes"]))
                else:
                    obj = build_rom(self.function, in_fmt, node.formats["result"],
                                    table_size=int(a["table_size"]), input_range=rng,
                                    half=a["variant"] == "half_rom",
                                    convention="hls4ml" if a["variant"] == "hls4ml" else "qhw",
                                    table_fmt=node.formats["table"])
            except ValueError as exc:
                raise ModelError(f"{self.name} {node.name!r}: {exc}") from None
            return obj

        return node.cached(key, build)

    def golden(self, node, inputs, in_fmts, ctx):
        t = self.table(node, in_fmts[0])
        return t.evaluate(inputs[0]) if node.attrs["variant"] == "pwl" else t.lookup(inputs[0])

    def float_eval(self, node, inputs):
        return evaluate(self.function, inputs[0])


@register
class Sigmoid(_Lut):
    name = function = "sigmoid"
    hls4ml_names = ("qactivation", "sigmoid")

    def output_range(self, node):
        return 0.0, 1.0


@register
class Tanh(_Lut):
    name = function = "tanh"
    hls4ml_names = ("qactivation", "tanh")

    def output_range(self, node):
        return -1.0, 1.0


@register
class HardSigmoid(OpDef):
    """y = clip(slope * x + offset, 0, 1) (Keras' 0.2 / 0.5 by default); slope and offset are
    constants of the ``scale`` slot format (default 17 fraction bits, rounded to nearest)."""
    traits = frozenset({Trait.ELEMENTWISE})

    name = "hard_sigmoid"
    attrs = {"slope": 0.2, "offset": 0.5}
    hls4ml_class, hls4ml_names, hls4ml_slots = "HardActivation", ("qactivation", "hard_sigmoid"), ("result",)

    def output_range(self, node):
        return 0.0, 1.0

    def bounds(self, sum_fmt: FixedFormat) -> tuple[int, int]:
        """The clamp to [0, 1] as raw codes of the format of slope * x + offset (``sum_fmt``)."""
        return bound_codes(sum_fmt, 0.0, 1.0)

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["scale"] = ctx.choose(node, "scale", None, FixedFormat(18, 1, True, "RND"))
        node.formats["result"] = ctx.choose(node, "result", None, FixedFormat(ctx.default.width, 1, False))

    def golden(self, node, inputs, in_fmts, ctx):
        import qhw.fixed as qf

        sf = node.formats["scale"]
        slope = sf.quantize(node.attrs["slope"])
        offset = sf.quantize(node.attrs["offset"])
        prod, pf = qf.mul(inputs[0], in_fmts[0], slope, sf)
        s, sfmt = qf.add(prod, pf, offset, sf)
        lo, hi = self.bounds(sfmt)
        return ctx.assign(node.name, node.formats["result"], np.clip(s, lo, hi), sfmt)

    def float_eval(self, node, inputs):
        return np.clip(node.attrs["slope"] * inputs[0] + node.attrs["offset"], 0.0, 1.0)
