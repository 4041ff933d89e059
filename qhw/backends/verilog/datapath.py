"""A layer's datapath as plain records (wires, instances, registers) rendered by ``layer.v.j2``.

Lowering functions build a :class:`Datapath`; the template lays it out as one module with the
uniform layer ports ``clk, rst, ce, start, x, y`` (see :mod:`qhw.backends.verilog.top`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qhw.backends.verilog.render import render
from qhw.backends.verilog.requant import UnarySpec, unary_module
from qhw.tools.cache import content_hash


def sext(expr: str, w_from: int, w_to: int) -> str:
    """Sign-extend a signed ``w_from``-bit NAME (a plain identifier) to ``w_to`` bits."""
    if w_to == w_from:
        return expr
    if w_to < w_from:
        raise ValueError(f"cannot narrow {expr} from {w_from} to {w_to} bits")
    return f"{{{{{w_to - w_from}{{{expr}[{w_from - 1}]}}}}, {expr}}}"


@dataclass
class Datapath:
    """Records for one layer module. ``units`` collects the unary block modules it uses
    (module name -> Verilog text), shared across the design by content."""

    module: str
    title: str
    in_bits: int
    out_bits: int
    header: list[str] = field(default_factory=list)
    decls: list[dict] = field(default_factory=list)
    assigns: list[dict] = field(default_factory=list)
    insts: list[dict] = field(default_factory=list)
    regs: list[dict] = field(default_factory=list)
    resets: list[dict] = field(default_factory=list)
    y_parts: list[str] = field(default_factory=list)  # first part = lowest bits
    units: dict[str, str] = field(default_factory=dict)
    latency: int = 1
    ii: int = 1
    _n: int = 0

    def wire(self, name: str, width: int, expr: str, signed: bool = True) -> str:
        self.decls.append(dict(kind="wire", name=name, width=width, signed=signed))
        self.assigns.append(dict(name=name, expr=expr))
        return name

    def reg(self, name: str, width: int, next_expr: str, cond: str = "", signed: bool = True,
            reset: str | None = None) -> str:
        self.decls.append(dict(kind="reg", name=name, width=width, signed=signed))
        self.regs.append(dict(name=name, next=next_expr, cond=cond))
        if reset is not None:
            self.resets.append(dict(name=name, value=reset))
        return name

    def unary(self, spec: UnarySpec, x_expr: str, y_name: str, prefix: str) -> str:
        """Instantiate the unary block for ``spec`` (declaring ``y_name`` as its output)."""
        key = content_hash(repr(spec), length=10)
        mod = f"{prefix}_u{key}"
        if mod not in self.units:
            self.units[mod] = unary_module(mod, spec, node=self.module)
        self.decls.append(dict(kind="wire", name=y_name, width=spec.dst.width, signed=False))
        self._n += 1
        self.insts.append(dict(module=mod, name=f"u_{y_name}", x=x_expr, y=y_name))
        return y_name

    def text(self) -> str:
        y = "{" + ", ".join(reversed(self.y_parts)) + "}" if len(self.y_parts) > 1 else self.y_parts[0]
        return render("layer.v.j2", module=self.module, title=self.title, header=self.header,
                      latency=self.latency, ii=self.ii, in_bits=self.in_bits,
                      out_bits=self.out_bits, decls=self.decls, assigns=self.assigns,
                      insts=self.insts, regs=self.regs, resets=self.resets, y_expr=y)
