"""Throughput of qhw.fixed quantize/cast vs a naive numpy baseline, and of the exact matmul.

Run: python benchmarks/bench_fixed.py [--n 10000000] [--no-matmul]
Target (issue 2): qhw within 3x of ``np.clip(np.round(x * 2**f), lo, hi)`` for TRN/RND/RND_CONV x
WRAP/SAT, and (issue 15, exact rounding next to ties) for the other rounding modes with SAT. The
naive baseline is not ap_fixed-exact (np.round is half-even, no wrap); it only sets the pace.
"""
from __future__ import annotations

import argparse

import numpy as np

import qhw.fixed as qf
from qhw.fixed import FixedFormat
from timing import best_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--no-matmul", action="store_true", help="only the quantize/cast rows")
    args = ap.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n) * 8
    src = FixedFormat(24, 10)
    raw = src.quantize(x)
    print(f"{n:,} elements, float64 input; times are best of 3")
    print(f"{'op':9} {'format':36} {'qhw s':>8} {'naive s':>8} {'ratio':>6}")
    for rounding in ("TRN", "RND", "RND_CONV"):
        for overflow in ("WRAP", "SAT"):
            fmt = FixedFormat(16, 6, True, rounding, overflow)
            f, lo, hi = fmt.frac_bits, fmt.raw_min, fmt.raw_max
            t_naive = best_of(lambda: np.clip(np.round(x * 2.0**f), lo, hi).astype(np.int64))
            t_q = best_of(lambda: fmt.quantize(x))
            print(f"{'quantize':9} {str(fmt):36} {t_q:8.3f} {t_naive:8.3f} {t_q / t_naive:6.2f}")
            t_naive_c = best_of(lambda: np.clip(np.round(raw * 2.0**(f - src.frac_bits)), lo, hi).astype(np.int64))
            t_c = best_of(lambda: fmt.cast(raw, src))
            print(f"{'cast':9} {str(fmt):36} {t_c:8.3f} {t_naive_c:8.3f} {t_c / t_naive_c:6.2f}")
    for rounding in ("RND_ZERO", "RND_MIN_INF", "RND_INF", "TRN_ZERO"):  # the other modes (issue 15)
        fmt = FixedFormat(16, 6, True, rounding, "SAT")
        f, lo, hi = fmt.frac_bits, fmt.raw_min, fmt.raw_max
        t_naive = best_of(lambda: np.clip(np.round(x * 2.0**f), lo, hi).astype(np.int64))
        t_q = best_of(lambda: fmt.quantize(x))
        print(f"{'quantize':9} {str(fmt):36} {t_q:8.3f} {t_naive:8.3f} {t_q / t_naive:6.2f}")
    if args.no_matmul:
        return
    a = FixedFormat(16, 6)
    xs = a.quantize(rng.standard_normal((100_000, 64)))
    w = a.quantize(rng.standard_normal((64, 32)) * 0.3)
    xf, wf = a.to_float(xs).astype(np.float32), a.to_float(w).astype(np.float32)
    t_f = best_of(lambda: xf @ wf)
    for acc in (FixedFormat(38, 18), FixedFormat(16, 6), FixedFormat(20, 8, True, "RND", "SAT")):
        t_m = best_of(lambda: qf.matmul(xs, a, w, a, acc), repeat=1)
        print(f"{'matmul':9} (100000x64)@(64x32) acc {str(acc):22} {t_m:8.3f} {t_f:8.3f} {t_m / t_f:6.1f}  (vs float32 matmul)")


if __name__ == "__main__":
    main()
