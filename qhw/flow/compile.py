"""The compile step (the last of :data:`qhw.flow.COMPILE_FLOW`): RTL (and other registered
backends), test vectors, the annotated model and report.json, written atomically (built in a
temporary folder beside OUT, renamed into place; nothing on error). OUT is new, empty or an
earlier compile output (see :mod:`qhw.io.atomic`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from qhw import backends as registry
from qhw.errors import ConfigError
from qhw.golden import check_batch
from qhw.golden.vectors import golden_vectors, write_vectors
from qhw.io import save
from qhw.io.atomic import atomic_dir

DEFAULT_VECTORS = 200


def compile_graph(graph, out: os.PathLike, backends: tuple[str, ...] = ("rtl", "hls"),
                  options: dict | None = None, n_vectors: int = DEFAULT_VECTORS,
                  seed: int = 0, inputs=()) -> dict:
    """Write ``OUT/rtl``, ``OUT/<backend>`` for the other registered backends, ``OUT/vectors``,
    ``OUT/model.yaml`` (+ .npz: the annotated graph) and ``OUT/report.json``; returns the report.
    ``inputs``: the files the graph was read from, which OUT must not hold."""
    check_batch(graph, n_vectors)  # the golden test vectors must fit before any backend writes
    options = dict(options or {})
    out = Path(out)
    with atomic_dir(out, "compile", inputs) as tmp:
        report: dict = {"graph": graph.name, "backends": {}}
        for name in backends:
            if name not in registry.names():
                raise ConfigError(f"unknown backend {name!r}; registered: {', '.join(registry.names())}")
            be = registry.get(name)
            sub = getattr(be, "subdir", name)
            result = be.write(graph, tmp / sub, options.get(name, {}))
            if name == "rtl":
                man = result.manifest()
                report.update(latency=man["latency"], ii=man["ii"], top=man["top"],
                              inputs=man["inputs"], outputs=man["outputs"], layers=man["layers"])
                if "timing" in man:  # with a clock_period: latency in ns, critical path
                    report["timing"] = man["timing"]
            report["backends"][name] = sub
        save(graph, tmp / "model.yaml")  # the annotated graph: qhw estimate/predict read it back
        report["model"] = "model.yaml"
        report["options"] = {k: v for k, v in options.items() if k in backends}
        ins, exp = golden_vectors(graph, n_vectors, seed=seed)
        write_vectors(tmp / "vectors", ins, exp)
        report["vectors"] = dict(samples=n_vectors, seed=seed, input="vectors/input.txt",
                                 expected="vectors/expected.txt")
        (tmp / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report
