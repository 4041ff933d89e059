"""The simulation flavour of a MAC layer as loops over a weight table (``mac_loop.v.j2``).

The synthesis flavour of a dense/conv layer is a netlist of constant products and adder trees;
its plain-expression twin (``flavour="sim"``) is what Verilator evaluates fastest per cycle, but
both are evaluated on every cycle and grow the C++ (and its build) with every product. A
streamed kernel sees a new window on a fraction of the cycles, and a dense layer after the
stream one sample per image; a very large parallel layer costs minutes of C++ compilation. For
them the twin here computes the exact sums by loops, only on the cycle an input is accepted.
"""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.render import render

#: a parallel MAC layer with more constant products than this simulates as loops (the
#: 784 x 64 first layer of a TFC-size MLP: 50,176); smaller ones keep the plain-expression
#: twin, which runs faster per sample at II = 1
LOOP_TWIN_PRODUCTS = 16384
#: the widest literal Verilator reads (bits)
LITERAL_BITS = 65536


def mac_loop_twin(node, in_fmt, in_shape: tuple[int, ...], module: str, prefix: str,
                  latency: int, ii: int, have=()) -> dict[str, str] | None:
    """The simulation flavour of a MAC layer ``module`` (a streamed kernel or a dense layer
    after the stream): its exact sums computed by loops over a weight table only on the cycle
    an input is accepted (``ce && start``), delayed to the synthesis twin's ``latency``, then the
    same result casts (``templates/verilog/mac_loop.v.j2``). Verilator turns it into a few
    loops (small C++, a short build) that run once per window instead of every cycle.
    ``{file: text}`` (the module and its cast units not among the file names ``have``), or
    None when the layer's arithmetic is not an exact sum (a ``chain`` accumulator or
    per-product casts: the ordinary twin)."""
    from qhw.backends.verilog.datapath import Datapath
    from qhw.backends.verilog.mac import MacPlan, _finish, mac_terms
    from qhw.backends.verilog.requant import signed_bits

    terms, _ = mac_terms(node, tuple(in_shape))
    plan = MacPlan(node, in_fmt, terms)
    if plan.mode != "tree" or plan.term_cast is not None or not terms:
        return None
    n_in, n_out, ws = int(np.prod(in_shape)), len(terms), plan.sum_width
    w = np.zeros((n_out, n_in), np.int64)
    for j, tl in enumerate(terms):
        for i, wc in tl:
            w[j, i] = wc
    wb = signed_bits(min(int(w.min()), 0), max(int(w.max()), 0))
    xw = in_fmt.width + (0 if in_fmt.signed else 1)
    if ws < max(wb, xw):  # cannot happen: the exact sum width holds every product
        raise AssertionError(f"{node.name}: sum width {ws} below an operand's")

    def packed(values, width: int) -> list[dict]:
        """Parts of at most 65,536 bits: entries n from index at, as hex (entry 0 lowest)."""
        per = max(1, LITERAL_BITS // width)
        parts = []
        for at in range(0, len(values), per):
            v = 0
            for k, c in enumerate(values[at:at + per]):
                v |= (int(c) & ((1 << width) - 1)) << (k * width)
            parts.append(dict(at=at, n=len(values[at:at + per]), hex=f"{v:x}"))
        return parts

    dp = Datapath(module, f"{node.op} {node.name!r}", n_in * in_fmt.width, n_out * plan.res.width)
    for j in range(n_out):
        dp.y_parts.append(_finish(dp, plan, j, f"s{latency}[{j}]", prefix))
    text = render("mac_loop.v.j2", module=module, title=dp.title,
                  header=[f"node: {node.name} ({node.op}), {n_out} outputs x {n_in} inputs, reuse "
                          f"{int(node.attrs.get('reuse_factor', 1) or 1)} (II {ii})",
                          f"in: {in_fmt}  weight: {plan.w}  accum: {plan.acc}  result: {plan.res}",
                          f"exact sum width: {ws} bits"],
                  latency=latency, in_bits=dp.in_bits, out_bits=dp.out_bits, n_in=n_in,
                  n_out=n_out, n_in_p=1 << (n_in - 1).bit_length(),
                  n_out_p=1 << (n_out - 1).bit_length(),
                  cw=32 if ws <= 32 else 64 if ws <= 64 else ws, wb=wb, ws=ws, xw=xw, in_width=in_fmt.width, x_signed=in_fmt.signed,
                  shift=plan.shift, weights=packed(list(w.ravel()), wb), biases=packed(plan.b0, ws),
                  decls=dp.decls, assigns=dp.assigns, insts=dp.insts,
                  y_expr="{" + ", ".join(reversed(dp.y_parts)) + "}" if n_out > 1 else dp.y_parts[0])
    return {f"{module}.v": text, **{f"{m}.v": t for m, t in dp.units.items() if f"{m}.v" not in have}}


def big_layer_twin(node, graph, module: str, prefix: str, latency: int, ii: int,
                   have=()) -> dict[str, str]:
    """The loop twin of a parallel MAC layer with more than :data:`LOOP_TWIN_PRODUCTS`
    constant products (``{file: text}``, units among ``have`` left out), else ``{}``."""
    if len(node.inputs) != 1:
        return {}
    src = graph.node(node.inputs[0])
    if int(np.prod(src.shape)) * int(np.prod(node.shape)) <= LOOP_TWIN_PRODUCTS:
        return {}
    return mac_loop_twin(node, src.formats["result"], tuple(src.shape), module, prefix,
                         latency, ii, have) or {}
