"""g++ build cache and qhw's own hls_stream.h, on a hand-written HLS-style smoke design."""
from __future__ import annotations

import subprocess

import pytest

from qhw._resources import templates_dir
from qhw.tools import gxx
from qhw.tools.ap_types import ap_types_include_dir

# A 4-tap dot product on ap_fixed values passed through hls::stream: the kind of code the backend
# emits, small enough to check by hand. Inputs are raw codes; outputs are raw codes.
SMOKE_CPP = r"""
#include <cstdio>
#include <ap_fixed.h>
#include "hls_stream.h"
typedef ap_fixed<8, 3> in_t;
typedef ap_fixed<6, 2> w_t;
typedef ap_fixed<12, 5, AP_TRN, AP_SAT> acc_t;
static const w_t W[4] = {1.5, -0.25, 1.9375, -2.0};

void top(hls::stream<in_t>& in, hls::stream<acc_t>& out) {
  acc_t acc = 0;
  for (int i = 0; i < 4; i++) {
#pragma HLS PIPELINE II=1
    acc += in.read() * W[i];
  }
  out.write(acc);
}

int main() {
  hls::stream<in_t> in("in");
  hls::stream<acc_t> out("out");
  long long raw;
  int n = 0;
  while (std::scanf("%lld", &raw) == 1) {
    in_t x;
    x.range(7, 0) = ap_uint<8>(raw);
    in.write(x);
    if (++n % 4 == 0) {
      top(in, out);
      ap_int<12> bits;
      bits.range(11, 0) = out.read().range(11, 0);
      std::printf("%lld\n", (long long)bits.to_int64());
    }
  }
  return in.empty() ? 0 : 1;
}
"""


def _sources() -> dict[str, str]:
    return {"smoke.cpp": SMOKE_CPP,
            "hls_stream.h": (templates_dir() / "hls" / "hls_stream.h").read_text()}


def _scalar_reference(x_raw: list[int]) -> int:
    """acc = sat12(acc + x*w) per step, on a 2**-7 grid; written from the ap_fixed rules."""
    w_raw = [24, -4, 31, -32]  # weights in LSBs of 2**-4
    acc = 0  # LSBs of 2**-7 (acc_t has 7 fraction bits)
    for x, w in zip(x_raw, w_raw):
        exact = acc * 2**2 + x * w  # LSBs of 2**-9 (in_t 5 + w_t 4 fraction bits)
        acc = exact >> 2  # AP_TRN: floor
        acc = max(-2**11, min(2**11 - 1, acc))  # AP_SAT
    return acc


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory):
    return gxx.build_cached(_sources(), [ap_types_include_dir()], name="smoke")


def test_smoke_design_matches_scalar_reference(smoke_build):
    cases = [[0, 0, 0, 0], [127, -128, 127, -128], [-128, 127, -128, 127], [5, -7, 33, 100],
             [-1, -1, -1, -1], [64, 64, 64, 64]]
    text = "\n".join(" ".join(map(str, c)) for c in cases)
    proc = subprocess.run([str(smoke_build.exe)], input=text, capture_output=True, text=True,
                          check=True)
    got = [int(v) for v in proc.stdout.split()]
    assert got == [_scalar_reference(c) for c in cases]
    assert any(abs(v) == 2**11 or v == 2**11 - 1 for v in got), "saturation not exercised"


def test_second_build_hits_cache_and_does_not_recompile(smoke_build):
    mtime = smoke_build.exe.stat().st_mtime_ns
    again = gxx.build_cached(_sources(), [ap_types_include_dir()], name="smoke")
    assert again.cached and again.exe == smoke_build.exe
    assert again.exe.stat().st_mtime_ns == mtime


def test_changed_source_rebuilds_elsewhere(smoke_build):
    src = _sources()
    src["smoke.cpp"] += "\n// touched\n"
    key_dir = gxx.build_cached(src, [ap_types_include_dir()], name="smoke").exe.parent
    assert key_dir != smoke_build.exe.parent


def test_reading_empty_stream_aborts_with_its_name():
    prog = r"""
#include "hls_stream.h"
int main() { hls::stream<int> s("lonely"); s.write(1); s.read(); return s.read(); }
"""
    exe = gxx.build({"empty.cpp": prog, "hls_stream.h": _sources()["hls_stream.h"]}, name="empty")
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode != 0 and "lonely" in proc.stderr


def test_compile_error_names_the_unit():
    with pytest.raises(gxx.CompileError, match="broken.cpp"):
        gxx.build({"broken.cpp": "int main() { return nope; }"}, name="broken")


def test_concurrent_builds_of_one_program_compile_it_once(tmp_path, monkeypatch):
    """Two callers (xdist workers, threads) wanting the same program: one compiles, one waits
    and reads the cache; a failure says how g++ ended."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path))
    src = {"main.cpp": "int main() { return 0; }\n// unique %s\n" % tmp_path.name}
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: gxx.build_cached(src), range(2)))
    assert sorted(r.cached for r in results) == [False, True]
    assert results[0].exe == results[1].exe and results[0].exe.is_file()
    with pytest.raises(gxx.CompileError, match="g\\+\\+: exit code 1"):
        gxx.build_cached({"bad.cpp": "int main( {"})


def _uses_pch(unit_text: str, tmp_path, monkeypatch) -> tuple[bool, str]:
    """Build ``unit_text`` (which includes ``ap_fixed.h``) with the precompiled ap_types headers
    in a fresh cache and ask g++ itself (``-H`` marks a used ``.gch`` with ``!``) whether it
    read them; returns that and the program's output."""
    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache"))
    exe = gxx.build({"main.cpp": unit_text}, [ap_types_include_dir()], name="pch")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    header = gxx.precompiled_ap_types(gxx.find_gxx(), gxx.DEFAULT_FLAGS, ap_types_include_dir())
    assert header is not None and header.with_name(header.name + ".gch").is_file()
    (tmp_path / "main.cpp").write_text(unit_text)
    trace = subprocess.run([gxx.find_gxx(), *gxx.DEFAULT_FLAGS, "-H", "-include", str(header),
                            f"-I{ap_types_include_dir()}", "-fsyntax-only", str(tmp_path / "main.cpp")],
                           capture_output=True, text=True, check=True).stderr
    return any(ln.startswith("!") and ln.rstrip().endswith(".gch") for ln in trace.splitlines()), out


PCH_PROGRAM = r"""
#include <cstdio>
#include <ap_fixed.h>
int main() {
  ap_fixed<8, 3, AP_RND, AP_SAT> x = 3.99;  // 127.68 LSBs rounds to 128: saturates to 127
  ap_fixed<12, 5> y = ap_fixed<6, 2>(-1.75) * ap_fixed<6, 2>(1.25);
  std::printf("%d %d\n", (int)x.range(7, 0), (int)y.range(11, 0));
  return 0;
}
"""


def test_precompiled_ap_types_are_used_give_the_same_program_and_may_break(tmp_path, monkeypatch):
    """g++ uses the cached ``.gch`` (it says so under ``-H``) and the program built with it prints
    what the one built without it (``QHW_NO_PCH=1``) prints: the ap_types rules, not the cache.
    A ``.gch`` that is garbage (a truncated write, another compiler's) is ignored by g++: the
    next build still compiles and runs right."""
    used, out = _uses_pch(PCH_PROGRAM, tmp_path, monkeypatch)
    assert used
    assert out.split() == ["127", str(-280 & 0xFFF)]  # saturated; -2.1875 = -280 LSBs of 2**-7
    for gch in (tmp_path / "cache" / "gxx_pch").glob("*/*.gch"):
        gch.write_bytes(b"not a precompiled header")
    changed = PCH_PROGRAM.replace("return 0;", "return 0; // another program, not a cache hit")
    exe = gxx.build({"main.cpp": changed}, [ap_types_include_dir()], name="pch")
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout == out
    monkeypatch.setenv("QHW_CACHE_DIR", str(tmp_path / "cache_off"))
    monkeypatch.setenv("QHW_NO_PCH", "1")
    plain = gxx.build({"main.cpp": PCH_PROGRAM}, [ap_types_include_dir()], name="pch")
    assert subprocess.run([str(plain)], capture_output=True, text=True, check=True).stdout == out
    assert not list((tmp_path / "cache_off").glob("gxx_pch/*/*.gch"))


@pytest.mark.parametrize("text,wanted", [
    (PCH_PROGRAM, True),
    ("#include <cstdio>\nint main() { return 0; }\n", False),  # no ap_types: nothing to add
    ("#define AP_INT_MAX_W 4096\n" + PCH_PROGRAM, False),  # a macro the ap_types headers read
    ('#include "types.h"\nint main() { return 0; }\n', True),  # through a header of the program
])
def test_which_units_get_the_precompiled_header(text, wanted):
    sources = {"main.cpp": text, "types.h": "#ifndef T_H\n#define T_H\n#include <ap_fixed.h>\n#endif\n"}
    assert gxx._wants_pch("main.cpp", sources, ap_types_include_dir()) is wanted
