"""A layer's datapath as plain records (wires, instances, registers) rendered by ``layer.v.j2``.

Lowering functions build a :class:`Datapath`; the template lays it out as one module with the
uniform layer ports ``clk, rst, ce, start, x, y`` (see :mod:`qhw.backends.verilog.top`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qhw.backends.verilog.render import render, signed_literal
from qhw.backends.verilog.requant import UnarySpec, split_spec, unary_module
from qhw.backends.verilog.signal import Signal, literal
from qhw.tools.cache import content_hash


def tree_nodes(leaves: list[str], depth: int, reg_levels: set[int], prefix: str
               ) -> tuple[list[dict], str]:
    """A pairwise adder tree over ``leaves`` padded to ``depth`` levels: its nodes (name, expr,
    registered after a level in ``reg_levels``) named ``<prefix>{level}_{k}``, and the root."""
    nodes, level = [], list(leaves)
    for lv in range(1, depth + 1):
        nxt = []
        for k in range(0, len(level), 2):
            expr = f"{level[k]} + {level[k + 1]}" if k + 1 < len(level) else level[k]
            nodes.append(dict(name=f"{prefix}{lv}_{k // 2}", expr=expr, reg=lv in reg_levels))
            nxt.append(nodes[-1]["name"])
        level = nxt
    return nodes, level[0]


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
    #: constant tables read synchronously (:meth:`rom`): memory, initial words, address, output
    roms: list[dict] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    latency: int = 1
    ii: int = 1
    #: how products and MAC adder trees are written: "synth" (instances of the design's shared
    #: multiplier and adder-tree modules, which a synthesizer maps once per shape) or "sim"
    #: (plain expressions in the layer, fewer modules for a simulator to schedule)
    flavour: str = "synth"
    #: the pipeline-register labels a clock period asks of this layer's element chain
    #: (:func:`qhw.backends.verilog.elementwise.element_layer`): "pre" registers the input of
    #: the unary blocks called with it (after a table read, a window, comparisons), "mid" splits
    #: them between the clamp/multiply and the cast; ``applied``: the labels actually placed
    #: (each one cycle on every element's path)
    cuts: frozenset = frozenset()
    applied: set = field(default_factory=set)
    #: a streamed kernel's ``timing`` entry at a clock period (qhw.backends.verilog.top.kernel_clock)
    timing: dict | None = None
    _n: int = 0

    @property
    def x(self) -> Signal:
        """The layer's input bus (every input's elements, first input lowest)."""
        return Signal("x", self.in_bits)

    def read_rom(self, module: str, inst: str, addr: str, name: str, width: int) -> str:
        """Instantiate ROM ``module`` as ``inst`` at address ``addr``; its ``width``-bit entry is
        the new wire ``name`` (returned)."""
        self.decls.append(dict(kind="wire", name=name, width=width, signed=False))
        self.insts.append(dict(module=module, name=inst, x=addr, y=name))
        return name

    def rom(self, name: str, q: str, words: list[int], width: int, addr: str, what: str) -> str:
        """A ``len(words)`` x ``width`` constant table ``name`` (``reg`` array set by an
        ``initial`` block) read synchronously: ``q <= name[addr]`` on every ``ce`` (no reset), the
        shape Yosys maps to block RAM or LUT RAM. Declares and returns ``q`` (``width`` bits)."""
        self.decls.append(dict(kind="reg", name=q, width=width, signed=False))
        self.roms.append(dict(name=name, q=q, width=width, addr=addr, what=what,
                              words=[f"{int(w) & ((1 << width) - 1):x}" for w in words]))
        return q

    def wire(self, name: str, width: int, expr, signed: bool = True) -> str:
        self.decls.append(dict(kind="wire", name=name, width=width, signed=signed))
        self.assigns.append(dict(name=name, expr=str(expr)))
        return name

    def reg(self, name: str, width: int, next_expr, cond: str = "", signed: bool = True,
            reset: str | None = None) -> str:
        self.decls.append(dict(kind="reg", name=name, width=width, signed=signed))
        self.regs.append(dict(name=name, next=str(next_expr), cond=cond))
        if reset is not None:
            self.resets.append(dict(name=name, value=reset))
        return name

    def unary(self, spec: UnarySpec, x_expr, y_name: str, prefix: str, pipe: tuple = ()) -> str:
        """Instantiate the unary block for ``spec`` (declaring ``y_name`` as its output).
        ``pipe``: the pipeline registers this call site may get when :attr:`cuts` asks for
        them ("pre": its input registered; "mid": the block split after its clamp/multiply,
        the exact intermediate registered). A lowering passes the same ``pipe`` for every
        element, so all parallel paths get the same registers."""
        x_expr = str(x_expr)
        if "pre" in pipe and "pre" in self.cuts:
            x_expr = self.reg(f"{y_name}_p", spec.src_in.width, x_expr, signed=False)
            self.applied.add("pre")
        if "mid" in pipe and "mid" in self.cuts:
            first, second = split_spec(spec)
            v = self._unary(first, x_expr, f"{y_name}_v", prefix)
            vq = self.reg(f"{y_name}_m", first.dst.width, v, signed=False)
            self.applied.add("mid")
            return self._unary(second, vq, y_name, prefix)
        return self._unary(spec, x_expr, y_name, prefix)

    def _unary(self, spec: UnarySpec, x_expr, y_name: str, prefix: str) -> str:
        key = content_hash(repr(spec), length=10)
        mod = f"{prefix}_u{key}"
        if mod not in self.units:
            self.units[mod] = unary_module(mod, spec, node=self.module)
        self.decls.append(dict(kind="wire", name=y_name, width=spec.dst.width, signed=False))
        self._n += 1
        self.insts.append(dict(module=mod, name=f"u_{y_name}", x=str(x_expr), y=y_name))
        return y_name

    def mul(self, name: str, a: str, wa: int, b: int | str, wb: int, prefix: str) -> str:
        """Declare ``name`` = a * b, exact (``wa + wb`` bits signed), ``b`` an int constant or a
        ``wb``-bit signed expression; operands are signed expressions of exactly their width.
        Written as the :attr:`flavour` asks (:meth:`_mul_instance` or :meth:`_mul_expr`)."""
        if self.flavour == "sim":
            return self._mul_expr(name, a, wa, b, wb)
        return self._mul_instance(name, a, wa, b, wb, prefix)

    def _mul_expr(self, name: str, a: str, wa: int, b: int | str, wb: int) -> str:
        """``name`` = a * b as one signed expression on ``wa + wb`` bits."""
        bs = literal(b, wb) if isinstance(b, int) else Signal(b, wb, True).as_signed()
        return self.wire(name, wa + wb, f"{Signal(a, wa, True).as_signed()} * {bs}")

    def _mul_instance(self, name: str, a: str, wa: int, b: int | str, wb: int, prefix: str) -> str:
        """``name`` = a * b through the design's shared multiplier module: ``<prefix>_cmul``
        when ``b`` is an int constant, ``<prefix>_mul`` otherwise."""
        constant = isinstance(b, int)
        mod = f"{prefix}_{'cmul' if constant else 'mul'}"
        if mod not in self.units:
            self.units[mod] = render("mul.v.j2", name=mod, constant=constant)
        params = f".WA({wa}), .WB({wb})" + (f", .B({signed_literal(b, wb)})" if constant else "")
        ports = f".a({a}), " + ("" if constant else f".b({b}), ") + f".p({name})"
        self.decls.append(dict(kind="wire", name=name, width=wa + wb, signed=True))
        self.insts.append(dict(module=mod, name=f"m_{name}", params=params, ports=ports))
        return name

    def adder_tree(self, name: str, leaves: list[str], width: int, depth: int,
                   reg_levels: set[int], prefix: str) -> str:
        """Declare ``name`` = the sum of ``leaves`` (each ``width`` bits signed) by a pairwise
        tree padded to ``depth`` levels, registered after ``reg_levels``: an instance of the
        design's one parameterized tree module ``<prefix>_add<hash>`` (``addtree.v.j2``; the
        hash names its text), or inline in the layer for the "sim" :attr:`flavour`."""
        if self.flavour == "sim":
            return self._tree_inline(name, leaves, width, depth, reg_levels)
        n = len(leaves)
        text = render("addtree.v.j2", name="NAME")
        mod = f"{prefix}_add{content_hash(text, length=10)}"  # named by its text, as before by shape
        if mod not in self.units:
            self.units[mod] = text.replace("NAME", mod)
        mask = sum(1 << lv for lv in reg_levels if 0 < lv <= depth)
        d = "{" + ", ".join(reversed(leaves)) + "}" if n > 1 else leaves[0]
        params = f".N({n}), .W({width}), .D({depth}), .R({mask})"
        ports = f".clk(clk), .ce(ce), .d({d}), .s({name})"
        self.decls.append(dict(kind="wire", name=name, width=width, signed=True))
        self.insts.append(dict(module=mod, name=f"u_{name}", params=params, ports=ports))
        return name

    def _tree_inline(self, name: str, leaves: list[str], width: int, depth: int,
                     reg_levels: set[int]) -> str:
        nodes, root = tree_nodes(list(leaves), depth, reg_levels, f"{name}_l")
        for nd in nodes:
            (self.reg if nd["reg"] else self.wire)(nd["name"], width, nd["expr"])
        return self.wire(name, width, root)

    def text(self) -> str:
        y = "{" + ", ".join(reversed(self.y_parts)) + "}" if len(self.y_parts) > 1 else self.y_parts[0]
        return render("layer.v.j2", module=self.module, title=self.title, header=self.header,
                      latency=self.latency, ii=self.ii, in_bits=self.in_bits,
                      out_bits=self.out_bits, decls=self.decls, assigns=self.assigns,
                      insts=self.insts, regs=self.regs, resets=self.resets, roms=self.roms, y_expr=y)
