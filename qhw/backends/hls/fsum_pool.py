"""fsum_pool1d/2d in HLS C++ (templates/hls/fsum_pool.h.j2): the tap values and thresholds as
float32 bit patterns, the op's add order, C++ ``float`` adds (IEEE single precision, round to
nearest even; the C simulation's g++ uses SSE on x86-64, and with only adds nothing can be
fused into an FMA) and the count of thresholds at or below the sum."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from qhw.backends.hls.layers import LayerContext, _geometry, common, emitter
from qhw.ops import get as get_op
from qhw.ops.fsum_pool import FsumPool1d, FsumPool2d, float32_values


def _bits(values: np.ndarray, per_line: int = 8) -> str:
    words = [f"0x{int(b):08x}u" for b in float32_values(values).view(np.uint32).ravel()]
    return ",\n".join("    " + ", ".join(words[i:i + per_line]) for i in range(0, len(words), per_line))


@emitter("fsum_pool.h.j2", (FsumPool1d.name, FsumPool2d.name))
def _fsum_pool(node, ctx: LayerContext) -> dict:
    op = get_op(node.op, node.name)
    v = common(node, ctx)
    a = node.attrs  # a pool's stride defaults to its kernel
    shape = SimpleNamespace(op=node.op, attrs={**a, "stride": a.get("stride") or a["kernel_size"]})
    v.update(_geometry(shape, ctx.in_shapes[0], tuple(node.output.shape)))
    values = np.asarray(node.params["values"], np.float64)
    thr = np.asarray(node.params["thresholds"], np.float64)
    order = op.order(node)
    x = ctx.in_fmts[0]
    v.update(in_t=v["in_t"][0], c=v["cin"], taps=op.taps(node), steps=len(order),
             order=",\n".join(f"    {{{a}, {b}}}" for a, b in order),
             values=_bits(values), n_values=int(values.size), code_min=int(node.attrs["code_min"]),
             thresholds=_bits(thr) if thr.size else "    0x00000000u", n_thr=int(thr.size),
             n_thr_alloc=max(1, int(thr.size)), out_min=int(node.attrs["out_min"]),
             x_width=x.width, x_signed=x.signed)
    return v
