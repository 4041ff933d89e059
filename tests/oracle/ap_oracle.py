"""An independent oracle for qhw.fixed: C++ compiled with g++ against the real ap_types headers.

Each *case* names an operation and its formats; the generated program runs every case on a stream of
64-bit words (hex, one per line) and prints the raw bits of each result. Cases are spread over
several translation units compiled in parallel; the binary is cached by content hash.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhw.fixed import FixedFormat
from qhw.tools import gxx
from qhw.tools.ap_types import ap_types_include_dir

_TUS = 4


def ctype(fmt: FixedFormat) -> str:
    kind = "ap_fixed" if fmt.signed else "ap_ufixed"
    return f"{kind}<{fmt.width},{fmt.integer_bits},AP_{fmt.rounding},AP_{fmt.overflow}>"


@dataclass
class Case:
    """One operation on n samples. words: the input stream (uint64) for all samples."""

    kind: str  # quantize | cast | add | sub | mul | dot | shl | shr
    formats: tuple[FixedFormat, ...]
    n: int
    words: np.ndarray
    k: int = 0  # dot length, or shift amount
    product_cast: bool = False
    out_per_sample: int = 1
    result: np.ndarray = field(default=None, repr=False)

    def body(self) -> str:
        f = [ctype(x) for x in self.formats]
        if self.kind == "quantize":
            return (f"typedef {f[0]} T;\n  for (long s = 0; s < n; ++s) {{ double x = rd_double(in);"
                    " T v = x; wr(out, v.bits_to_uint64()); }")
        if self.kind == "cast":
            return (f"typedef {f[0]} S; typedef {f[1]} D;\n  for (long s = 0; s < n; ++s) {{ S a;"
                    " a.setBits(rd(in)); D d = a; wr(out, d.bits_to_uint64()); }")
        if self.kind in ("add", "sub", "mul"):
            op = {"add": "+", "sub": "-", "mul": "*"}[self.kind]
            return (f"typedef {f[0]} A; typedef {f[1]} B;\n  for (long s = 0; s < n; ++s) {{ A a; B b;"
                    f" a.setBits(rd(in)); b.setBits(rd(in)); auto r = a {op} b;"
                    " wr(out, r.bits_to_uint64()); wr(out, (unsigned long long)decltype(r)::width);"
                    " wr(out, (unsigned long long)(long long)decltype(r)::iwidth);"
                    " wr(out, (unsigned long long)(decltype(r)(-1) < 0)); }")
        if self.kind == "dot":
            step = "{ ACC p = a[i] * b[i]; acc += p; }" if self.product_cast else "acc += a[i] * b[i];"
            return (f"typedef {f[0]} A; typedef {f[1]} B; typedef {f[2]} ACC;\n"
                    f"  for (long s = 0; s < n; ++s) {{ A a[{self.k}]; B b[{self.k}]; ACC acc;"
                    " acc.setBits(rd(in));"
                    f" for (int i = 0; i < {self.k}; ++i) a[i].setBits(rd(in));"
                    f" for (int i = 0; i < {self.k}; ++i) b[i].setBits(rd(in));"
                    f" for (int i = 0; i < {self.k}; ++i) {step}"
                    " wr(out, acc.bits_to_uint64()); }")
        if self.kind in ("shl", "shr"):
            op = "<<" if self.kind == "shl" else ">>"
            return (f"typedef {f[0]} T;\n  for (long s = 0; s < n; ++s) {{ T a; a.setBits(rd(in));"
                    f" T r = a {op} {self.k}; wr(out, r.bits_to_uint64()); }}")
        raise ValueError(self.kind)


_PRELUDE = """#include <cstdio>
#include <cstring>
#include <ap_fixed.h>
static inline unsigned long long rd(FILE* f) { unsigned long long v; if (fscanf(f, "%llx", &v) != 1) v = 0; return v; }
static inline double rd_double(FILE* f) { unsigned long long b = rd(f); double d; std::memcpy(&d, &b, 8); return d; }
static inline void wr(FILE* f, unsigned long long v) { fprintf(f, "%llx\\n", v); }
"""


def _sources(cases: list[Case]) -> dict[str, str]:
    tus = {i: [_PRELUDE] for i in range(_TUS)}
    for idx, case in enumerate(cases):
        tus[idx % _TUS].append(
            f"void case_{idx}(FILE* in, FILE* out) {{\n  long n = (long)rd(in);\n  {case.body()}\n}}\n"
        )
    main = [_PRELUDE]
    main += [f"void case_{i}(FILE*, FILE*);" for i in range(len(cases))]
    main.append("int main(int argc, char** argv) {\n  FILE* in = fopen(argv[1], \"r\"); FILE* out = fopen(argv[2], \"w\");")
    main += [f"  fprintf(stderr, \"case {i}\\n\"); case_{i}(in, out);" for i in range(len(cases))]
    main.append("  fclose(out); return 0;\n}\n")
    srcs = {f"oracle_{i}.cpp": "\n".join(body) for i, body in tus.items()}
    srcs["oracle_main.cpp"] = "\n".join(main)
    return srcs


def run(cases: list[Case], flags: tuple[str, ...] = gxx.DEFAULT_FLAGS, name: str = "ap_oracle") -> None:
    """Compile (cached) and run all cases; fills ``case.result`` (uint64 words per sample)."""
    exe = gxx.build(_sources(cases), [ap_types_include_dir()], flags=flags, name=name)
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        chunks = []
        for case in cases:
            chunks.append(np.array([case.n], np.uint64))
            chunks.append(case.words.astype(np.uint64))
        words = np.concatenate(chunks)
        inp.write_text("\n".join(f"{int(w):x}" for w in words) + "\n")
        proc = subprocess.run([str(exe), str(inp), str(outp)], capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()
            crashed = [ln for ln in last if ln.startswith("case ")]
            culprit = cases[int(crashed[-1].split()[1])] if crashed else None
            raise RuntimeError(f"oracle crashed in {culprit}: {last[-1] if last else ''}")
        out = np.array([int(t, 16) for t in outp.read_text().split()], dtype=np.uint64)
    pos = 0
    for case in cases:
        m = case.n * case.out_per_sample
        case.result = out[pos:pos + m].reshape(case.n, case.out_per_sample)
        pos += m
    if pos != out.size:
        raise RuntimeError(f"oracle produced {out.size} words, expected {pos}")
