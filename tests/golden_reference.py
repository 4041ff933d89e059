"""An independent, scalar interpreter of annotated graphs (one sample, Python ints/Fractions).

Written from the format rules in docs/graph_contract.md with the ap_fixed semantics of
fixed_reference.py; it reads the graph's structure, formats and constants, never qhw's op code.
"""
from __future__ import annotations

import math
from fractions import Fraction

import fixed_reference as ref


def _val(raw, fmt):
    return ref.value(int(raw), fmt)


def _assign(v: Fraction, fmt, src_signed=True) -> int:
    """Assign an exact value to fmt (rounding, then overflow)."""
    return ref.overflow_value(ref.round_value(v * Fraction(2) ** fmt.frac_bits, fmt.rounding), fmt,
                              src_signed)


def _const(node, name):
    fmt = node.formats[name]
    return [ref.quantize(float(v), fmt) for v in node.params[name].ravel()], fmt


def run_sample(graph, sample: dict) -> dict:
    """sample: input name -> flat list of raw codes. Returns node name -> flat list of codes."""
    vals = {}
    for node in graph.nodes():
        f = node.formats.get("result")
        ins = [vals[s] for s in node.inputs]
        in_f = [graph.node(s).formats["result"] for s in node.inputs]
        if node.op == "input":
            vals[node.name] = [int(v) for v in sample[node.name]]
        elif node.op in ("output", "flatten", "reshape"):
            vals[node.name] = [_assign(_val(v, in_f[0]), f, in_f[0].signed) for v in ins[0]]
        elif node.op == "dense":
            w, wf = _const(node, "weight")
            k, m = node.params["weight"].shape
            acc_f = node.formats["accum"]
            out = []
            for j in range(m):
                if "bias" in node.params:
                    bq, bf = _const(node, "bias")
                    acc = _assign(_val(bq[j], bf), acc_f, bf.signed)
                else:
                    acc = 0
                for i in range(k):
                    p = _val(ins[0][i], in_f[0]) * _val(w[i * m + j], wf)
                    signed = acc_f.signed or in_f[0].signed or wf.signed
                    if node.attrs.get("product_cast"):
                        p = _val(_assign(p, acc_f, in_f[0].signed or wf.signed), acc_f)
                    acc = _assign(_val(acc, acc_f) + p, acc_f, signed)
                out.append(_assign(_val(acc, acc_f), f, acc_f.signed))
            vals[node.name] = out
        elif node.op in ("relu", "relu6", "clip"):
            lo, hi = {"relu": (0.0, None), "relu6": (0.0, 6.0)}.get(
                node.op, (node.attrs.get("min_value"), node.attrs.get("max_value")))
            x_f = in_f[0]
            rlo = x_f.raw_min if lo is None else max(x_f.raw_min, math.ceil(Fraction(lo) / Fraction(x_f.lsb)))
            rhi = x_f.raw_max if hi is None else min(x_f.raw_max, math.floor(Fraction(hi) / Fraction(x_f.lsb)))
            vals[node.name] = [_assign(_val(min(max(v, rlo), rhi), x_f), f, x_f.signed) for v in ins[0]]
        elif node.op == "shift":
            k = int(node.attrs["shift"])
            vals[node.name] = [_assign(_val(v, in_f[0]) * Fraction(2) ** k, f, in_f[0].signed) for v in ins[0]]
        elif node.op in ("add", "mul"):
            a, b = ins
            op = (lambda x, y: x + y) if node.op == "add" else (lambda x, y: x * y)
            signed = in_f[0].signed or in_f[1].signed or node.op == "sub"
            vals[node.name] = [_assign(op(_val(x, in_f[0]), _val(y, in_f[1])), f, signed) for x, y in zip(a, b)]
        elif node.op == "concat":
            # 1-D graphs only (the random generator's): concatenation of the assigned inputs
            vals[node.name] = [_assign(_val(v, fi), f, fi.signed) for x, fi in zip(ins, in_f) for v in x]
        else:
            raise NotImplementedError(f"reference has no {node.op}")
    return vals
