"""``write_hls``: an annotated graph → a Vitis-HLS-style C++ project directory.

Layout of ``out_dir`` (all text, deterministic):
  types.h            one typedef per distinct format
  layers/<fn>.h      one function per node, with its constant arrays
  <top>.h/.cpp       the top function (hls::stream / AXI-Stream or array interface)
  tb.cpp             C testbench reading raw-code vector files
  hls_stream.h       qhw's own minimal stream class for C simulation
  run_hls.tcl        Vitis HLS script (csim, csynth, optional cosim/export)
  qhw_hls.json       manifest: top, interface, ports (name, format, shape) for ``csim``
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from qhw.backends.hls import layers
from qhw.backends.hls.naming import ap_type, sanitize, type_name, unique_identifiers
from qhw.backends.hls.render import asset, render
from qhw.errors import ConfigError, ModelError
from qhw.fixed import FixedFormat

INTERFACES = ("stream", "array")
MANIFEST = "qhw_hls.json"


@dataclass(frozen=True)
class HlsProject:
    """What :func:`write_hls` wrote: the directory, the top function and the files (relative)."""

    out_dir: Path
    top: str
    interface: str
    files: tuple[str, ...]


class _Types:
    """Collects the formats in first-use order and names them."""

    def __init__(self) -> None:
        self._uses: dict[FixedFormat, list[str]] = {}

    def use(self, fmt: FixedFormat, what: str) -> str:
        uses = self._uses.setdefault(fmt, [])
        if what not in uses:
            uses.append(what)
        return type_name(fmt)

    def entries(self) -> list[dict]:
        def uses(fmt):
            u = self._uses[fmt]
            return ", ".join(u[:4]) + (f" (+{len(u) - 4} more)" if len(u) > 4 else "")

        return [{"name": type_name(f), "ap": ap_type(f), "uses": uses(f)}
                for f in sorted(self._uses, key=type_name)]


def _port(spec_name: str, node, types: _Types, ident: str, prefix: str) -> dict:
    fmt = node.output.fmt
    if fmt is None:
        raise ModelError(f"tensor {spec_name!r} has no format; run format inference first")
    return {
        "name": spec_name,
        "port": f"{prefix}_{ident}",
        "buf": f"t_{ident}",
        "type": types.use(fmt, f"{spec_name} tensor"),
        "fmt": str(fmt),
        "width": fmt.width,
        "signed": fmt.signed,
        "shape": list(node.output.shape),
        "size": layers.size(node.output.shape),
    }


def _signature(top: str, interface: str, ins: list[dict], outs: list[dict]) -> str:
    if interface == "stream":
        args = [f"hls::stream<{p['type']}>& {p['port']}" for p in ins + outs]
    else:
        args = [f"const {p['type']} {p['port']}[{p['size']}]" for p in ins]
        args += [f"{p['type']} {p['port']}[{p['size']}]" for p in outs]
    return f"void {top}({', '.join(args)})"


def write_hls(graph, out_dir: str | Path, *, interface: str = "stream", top: str = "qhw_top",
              part: str = "xcu250-figd2104-2L-e", clock_ns: float = 5.0,
              io: str = "auto") -> HlsProject:
    """Write the HLS C++ project for ``graph`` (formats assigned) into ``out_dir``.

    interface: ``"stream"`` (one ``hls::stream`` per graph input/output, AXI-Stream, one element
    per beat, row-major channels-last) or ``"array"`` (C arrays).
    part, clock_ns: only used in ``run_hls.tcl``.
    io: which convolutions/poolings are streamed (line-buffer walk, qhw.backends.hls.stream):
    ``parallel``, ``stream`` or ``auto`` (see qhw.backends.streaming).
    """
    if interface not in INTERFACES:
        raise ConfigError(f"HLS interface {interface!r} is not one of {', '.join(INTERFACES)}")
    if sanitize(top) != top:
        raise ConfigError(f"HLS top name {top!r} is not a C identifier (try {sanitize(top)!r})")
    # part and clock go into run_hls.tcl as bare Tcl words: nothing Tcl would substitute or split
    if not isinstance(part, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", part):
        raise ConfigError(f"HLS part {part!r} is not a part name (letters, digits, '_', '.', '-'), "
                          "e.g. 'xcu250-figd2104-2L-e'")
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, (int, float)) \
            or not math.isfinite(clock_ns) or clock_ns <= 0:
        raise ConfigError(f"HLS clock period {clock_ns!r} ns is not a positive number")
    out_dir = Path(out_dir)
    (out_dir / "layers").mkdir(parents=True, exist_ok=True)
    types = _Types()
    nodes = list(graph.nodes())
    inputs = list(graph.input_names)
    outputs = list(graph.output_names)
    by_name = {n.name: n for n in nodes}
    layer_nodes = [n for n in nodes if n.name not in inputs]

    idents = unique_identifiers([n.name for n in nodes])
    fns = {n.name: "layer_" + idents[n.name] for n in layer_nodes}
    # Consumers per tensor (duplicates count: add(x, x) reads x twice).
    readers: dict[str, int] = {n.name: 0 for n in nodes}
    for n in layer_nodes:
        for src in n.inputs:
            readers[src] += 1

    files: dict[str, str] = {}
    calls = []
    # streamed convolutions and poolings (qhw compile --io): qhw.backends.hls.stream
    from qhw.backends.hls import stream as hls_stream
    from qhw.backends.streaming import window_kind, stream_region
    streamed = {n.name: layers.Emitter(hls_stream.TEMPLATE, hls_stream.build)
                for n in stream_region(graph, {"io": io}) if window_kind(n) != "pixel"}
    for node in layer_nodes:
        srcs = [by_name[s] for s in node.inputs]
        ctx = layers.LayerContext(
            fn=fns[node.name],
            in_fmts=[s.output.fmt for s in srcs],
            in_shapes=[tuple(s.output.shape) for s in srcs],
            use_type=types.use,
        )
        em = streamed.get(node.name) or layers.get(node.op, node.name)
        values = em.build(node, ctx)
        files[f"layers/{ctx.fn}.h"] = render(em.template, **values)
        calls.append({"fn": ctx.fn, "node": node.name, "op": node.op,
                      "args": ["t_" + idents[s] for s in node.inputs], "out": "t_" + idents[node.name],
                      "type": types.use(node.output.fmt, f"{node.name} result"),
                      "size": layers.size(node.output.shape), "rf": layers.reuse_factor(node)})

    in_ports = [_port(n, by_name[n], types, idents[n], "in") for n in inputs]
    out_ports = [_port(n, by_name[n], types, idents[n], "out") for n in outputs]
    fully_parallel = all(c["rf"] == 1 for c in calls)
    # DATAFLOW wants each buffer written once and read once; fan-out or an output that is also read
    # by another layer breaks that, so such graphs run the layers sequentially.
    dataflow = all(readers[n.name] <= 1 for n in nodes) and all(readers[o] == 0 for o in outputs)
    top_ctx = dict(
        top=top, signature=_signature(top, interface, in_ports, out_ports), interface=interface, inputs=in_ports, outputs=out_ports, calls=calls,
        layer_headers=[f"layers/{c['fn']}.h" for c in calls], dataflow=dataflow,
        fully_parallel=fully_parallel,
        guard=f"QHW_{top.upper()}_H",
    )
    files["types.h"] = render("types.h.j2", types=types.entries(), guard="QHW_TYPES_H")
    files[f"{top}.h"] = render("top.h.j2", **top_ctx)
    files[f"{top}.cpp"] = render("top.cpp.j2", **top_ctx)
    files["tb.cpp"] = render("tb.cpp.j2", **top_ctx,
                             n_in=sum(p["size"] for p in in_ports),
                             n_out=sum(p["size"] for p in out_ports))
    files["hls_stream.h"] = asset("hls_stream.h")
    files["run_hls.tcl"] = render("run_hls.tcl.j2", top=top, part=part, clock_ns=clock_ns,
                                  sources=[f"{top}.cpp"], headers=sorted(files))
    manifest = {"top": top, "interface": interface, "inputs": in_ports, "outputs": out_ports,
                "sources": sorted(f for f in files if f.endswith(".cpp")),
                "files": sorted(files) + [MANIFEST]}
    files[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True) + "\n"

    stale = {p.relative_to(out_dir).as_posix() for p in (out_dir / "layers").glob("*.h")}
    for rel in stale - set(files):
        (out_dir / rel).unlink()
    for rel, text in files.items():
        path = out_dir / rel
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return HlsProject(out_dir, top, interface, tuple(sorted(files)))
