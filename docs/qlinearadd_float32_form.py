"""The exact integer form of onnxruntime's QLinearAdd (docs/imports.md), checked against
onnxruntime on every pair of 8-bit codes for several scale sets.

Claim: QLinearAdd == v = A[qa] + B[qb] summed exactly in fixed point (A[qa] = qa * ra exact,
B[qb] = fl32(qb * rb + F), a float32 per code, exact dyadic), then rint(fl32(v)) computed as:
n0 = floor(v); if |v - (n0 + .5)| <= 2**(E - 24) (E = floor(log2 |n0 + .5|); toward zero from
+-0.5: 2**-26) the even one of n0, n0 + 1, else v rounded to nearest; clipped.
Run: python docs/qlinearadd_float32_form.py (about 5 s CPU). Not part of qhw (no op yet)."""
import numpy as np, onnxruntime as ort, sys
from fractions import Fraction as Fr
from onnx import TensorProto as TP, helper as h

def fl32(x: Fr) -> Fr:
    """round an exact rational to float32 (ties to even), normal range"""
    if x == 0: return Fr(0)
    s = -1 if x < 0 else 1; a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fr(2) ** e > a: e -= 1
    if Fr(2) ** (e + 1) <= a: e += 1
    q = a / Fr(2) ** (e - 23)   # in [2^23, 2^24)
    n = q.numerator // q.denominator; r = q - n
    if r > Fr(1, 2) or (r == Fr(1, 2) and n % 2): n += 1
    return s * n * Fr(2) ** (e - 23)

def ort_add(sa, sb, sc, za, zb, zc, dt):
    T = TP.UINT8 if dt == "uint8" else TP.INT8
    inits = [h.make_tensor(k, TP.FLOAT, [], [v]) for k, v in (("sa", sa), ("sb", sb), ("sc", sc))]
    inits += [h.make_tensor(k, T, [], [v]) for k, v in (("za", za), ("zb", zb), ("zc", zc))]
    node = h.make_node("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"], domain="com.microsoft")
    g = h.make_graph([node], "g", [h.make_tensor_value_info(n, T, [None]) for n in "ab"], [h.make_tensor_value_info("c", T, [None])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    so = ort.SessionOptions(); so.log_severity_level = 3
    info = np.iinfo(dt); c = np.arange(info.min, info.max + 1)
    qa, qb = np.meshgrid(c, c, indexing="ij")
    out = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"a": qa.ravel().astype(dt), "b": qb.ravel().astype(dt)})[0]
    return qa.ravel(), qb.ravel(), out.astype(np.int64), info

def integer_form(qa, qb, sa, sb, sc, za, zb, zc, info):
    f = lambda v: Fr(float(np.float32(v)))
    ra = Fr(float(np.float32(np.float32(sa) / np.float32(sc))))
    rb = Fr(float(np.float32(np.float32(sb) / np.float32(sc))))
    F = fl32(zc - fl32(fl32(ra * za) + fl32(rb * zb)))
    codes = range(info.min, info.max + 1)
    B = {b: fl32(b * rb + F) for b in codes}
    A = {a: a * ra for a in codes}
    # a common fixed-point LSB: every value is a dyadic rational
    den = max(max(x.denominator for x in B.values()), max(x.denominator for x in A.values()))
    Ai = {a: int(A[a] * den) for a in codes}; Bi = {b: int(B[b] * den) for b in codes}
    out = np.empty(qa.size, np.int64)
    for k, (a, b) in enumerate(zip(qa.tolist(), qb.tolist())):
        v = Ai[a] + Bi[b]                      # exact integer, LSB 1/den
        n0 = v // den                          # floor
        mid2 = 2 * n0 + 1                      # 2*(n0 + 0.5)
        d2 = 2 * v - mid2 * den                # 2*den*(v - (n0+.5))
        m = abs(mid2)                          # E(|n0+.5|) = bitlen(|2n0+1|) - 2
        E = m.bit_length() - 2
        # window half-width 2^(E-24): |v-mid| <= 2^(E-24)  <=>  |d2| <= 2*den*2^(E-24)
        w = Fr(2 * den) * Fr(2) ** (E - 24)
        if m == 1 and (d2 < 0) == (mid2 > 0):  # below 0.5 in magnitude: the binade below
            w /= 2
        if abs(d2) <= w:
            r = n0 if n0 % 2 == 0 else n0 + 1
        else:
            r = n0 + 1 if d2 > 0 else n0
        out[k] = min(max(r, info.min), info.max)
    return out

for sa, sb, sc, za, zb, zc, dt in [(0.02, 0.02, 0.04, 0, 0, 0, "uint8"), (0.0131, 0.0297, 0.0514, 131, 120, 127, "uint8"),
                                   (0.013, 0.029, 0.05, 128, 128, 128, "uint8"), (0.0131, 0.0297, 0.0514, -3, 5, -1, "int8"),
                                   (0.1, 0.3, 0.7, 10, 250, 3, "uint8"), (0.05, 0.05, 0.1, 0, 0, 0, "int8")]:
    qa, qb, ref, info = ort_add(sa, sb, sc, za, zb, zc, dt)
    mine = integer_form(qa, qb, sa, sb, sc, za, zb, zc, info)
    # qhw's current single exact rounding for comparison
    exact = np.clip(np.rint((qa - za) * np.float32(sa).astype(np.float64) / float(np.float32(sc)) + (qb - zb) * float(np.float32(sb)) / float(np.float32(sc)) + zc), info.min, info.max).astype(np.int64)
    print(f"s=({sa},{sb},{sc}) z=({za},{zb},{zc}) {dt}: integer form differs on {int((mine != ref).sum())} of {ref.size}; single rounding differs on {int((exact != ref).sum())}")
