"""Snapshot every generated file of the test designs, to prove a restructuring changes nothing.

    python -m tests.generated_snapshot write DIR      # RTL + HLS of every design below into DIR
    python -m tests.generated_snapshot compare A B    # lists designs/files that differ; exit 1 if any

Designs: qhw.testing's reference models, the networks the op tests build (tables, threshold,
upsample, depth_to_space, softmax variants, pools, embedding), random graphs, the bundled jet MLP,
each under the backend options the tests use (reuse factors, csd multipliers, output FIFO, array
interface). A design that fails to build is recorded as ``ERROR.txt`` (so a change in what fails is
a difference too).
"""
from __future__ import annotations

import hashlib
import importlib
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _designs():
    """(name, graph factory, {backend: options})"""
    from qhw.testing import models as m

    rtl_opts = [("", {}), ("_r2", {"reuse_factor": 2}), ("_r4", {"reuse_factor": 4})]
    base = {
        "mlp": lambda: m.mlp(),
        "mlp_small": lambda: m.mlp((16, 8, 4, 5), fmt="ap_fixed<8,3>"),
        "conv1d": lambda: m.conv1d_net(),
        "conv2d": lambda: m.conv2d_net(),
        "embedding": lambda: m.embedding_net(),
        "softmax_stable": lambda: m.softmax_net("stable"),
        "softmax_argmax": lambda: m.softmax_net("argmax"),
        "softmax_hls4ml": lambda: m.softmax_net("hls4ml"),
    }
    for seed in range(24):
        base[f"random{seed}"] = (lambda s: lambda: m.random_graph(s))(seed)
    base["jet_mlp"] = lambda: __import__("qhw.io", fromlist=["load_model"]).load_model(ROOT / "examples/jet_mlp/model.yaml")
    for mod, fn, variants in (("tests.test_rtl_lut", "_net", [("rom", 1), ("half_rom", 1), ("pwl", 1), ("rom", 2)]),
                              ("tests.test_upsample", "_net2d", [()]),
                              ("tests.test_upsample", "_net1d", [()]),
                              ("tests.test_depth_to_space", "_net", [("DCR",), ("CRD",)]),
                              ("tests.test_threshold", "_net", [([[-1.0, 0.0, 1.0]] * 4,)])):
        for args in variants:
            def make(mod=mod, fn=fn, args=args):
                return getattr(importlib.import_module(mod), fn)(*args)
            tag = "_".join(str(a) for a in args if isinstance(a, (str, int))) or "default"
            base[f"{mod.split('.')[-1]}{fn}_{tag}"] = make
    for name, make in base.items():
        for suffix, rtl in rtl_opts:
            yield name + suffix, make, {"rtl": rtl, "hls": {}}
    yield "mlp_small_csd", base["mlp_small"], {"rtl": {"multipliers": "csd"}, "hls": {}}
    yield "mlp_small_fifo", base["mlp_small"], {"rtl": {"output_fifo": 4}, "hls": {"interface": "array"}}
    yield "mlp_small_tree", base["mlp_small"], {"rtl": {"tree_stage_levels": 2}, "hls": {}}


def write(out: Path) -> int:
    from qhw import backends
    from qhw.ops import Trait, has

    sys.path.insert(0, str(ROOT / "tests"))
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, make, options in _designs():
        d = out / name.replace("/", "_")
        d.mkdir(parents=True, exist_ok=True)
        try:
            graph = make()
            backends.get("rtl").write(graph, d / "rtl", dict(options["rtl"]))
            r = options["rtl"].get("reuse_factor")
            if r:  # the HLS backend reads the reuse factor from the MAC nodes
                graph = graph.copy()
                for node in graph.nodes():
                    if has(node.op, Trait.MAC):
                        node.attrs["reuse_factor"] = r
            backends.get("hls").write(graph, d / "hls", dict(options["hls"]))
        except Exception:  # noqa: BLE001 - a design that fails is recorded, not hidden
            (d / "ERROR.txt").write_text(traceback.format_exc().splitlines()[-1] + "\n")
        n += 1
    print(f"{n} designs written to {out}")
    return 0


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def compare(a: Path, b: Path) -> int:
    da, db = _digest(a), _digest(b)
    diff = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
    for k in diff:
        print(("changed " if k in da and k in db else "only in " + (str(a) if k in da else str(b)) + ": ") + k)
    print(f"{len(set(da) | set(db))} files, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        sys.exit(write(Path(sys.argv[2])))
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    sys.exit(__doc__)
