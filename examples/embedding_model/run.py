"""A per-row quantized embedding model: why one scale per row, and the hardware it becomes.

Model: 4 token indices -> embedding (40 rows x 6, row norms spread over two decades, as trained
embedding tables often are) -> flatten -> dense 3. Each row is stored as 8-bit codes plus one
16-bit fixed-point scale (qhw.ops.embedding); a lookup is one exact code * scale product.

Run: python examples/embedding_model/run.py [--bits 8] [--vectors 200]
Prints the worst relative error of a row with per-row scales and with one scale for the whole
table, then simulates the RTL (Verilator) and the HLS C++ (g++) against the golden model.
"""
from __future__ import annotations

import argparse

import numpy as np

from qhw.ops import get
from qhw.testing.models import embedding_net


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=8, help="code width of the table (default 8)")
    ap.add_argument("--vectors", type=int, default=200, help="simulation vectors (0: skip)")
    args = ap.parse_args(argv)
    graph = embedding_net(code_bits=args.bits)
    node = graph.node("emb")
    table = node.params["table"]
    codes, scales = get("embedding").rows(node)
    per_row = node.formats["table"].to_float(codes) * node.formats["scale"].to_float(scales)[:, None]
    one = np.abs(table).max() / (2 ** (args.bits - 1) - 1)
    per_table = np.rint(table / one) * one
    norm = np.abs(table).max(axis=1)
    res = {"per_row": float((np.abs(per_row - table).max(axis=1) / norm).max()),
           "per_table": float((np.abs(per_table - table).max(axis=1) / norm).max())}
    print(f"{table.shape[0]} rows x {table.shape[1]}, {args.bits}-bit codes; worst error relative "
          f"to its row's largest value: per-row scales {res['per_row']:.2%}, one scale "
          f"{res['per_table']:.2%}")
    if args.vectors:
        from qhw.verify import verify

        for backend in ("rtl", "hls"):
            sim = verify(graph, n=args.vectors, backend=backend)
            print(f"{backend}: {sim.summary()}")
            res[f"{backend}_mismatches"] = sim.mismatches
    return res


if __name__ == "__main__":
    main()
