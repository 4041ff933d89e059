"""The compile flow as a flat list of named steps: import -> prepare -> lower -> compile.

Each step is a function ``(graph, options) -> graph`` (import starts from a model file, compile
ends in the write); :meth:`Pipeline.run` can stop after any step and hands every intermediate
graph to a callback, which ``qhw compile --stop-after/--save-steps`` uses to save it with the
native writer (:func:`qhw.io.save`). ``options``: ``config`` (a ModelConfig or None), ``default``,
``input_format`` (ONNX inputs), ``backends``, ``backend_options`` ({backend: options}),
``n_vectors``, ``seed``, ``out`` and ``inputs`` (for the compile step), and ``results``, a dict
the compile step puts its report into.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from qhw import backends as registry
from qhw.errors import ConfigError
from qhw.flow.compile import DEFAULT_VECTORS, compile_graph
from qhw.golden import check_batch
from qhw.graph import Graph
from qhw.io import load_model, native
from qhw.passes.pipeline import DEFAULT_PIPELINE, Pipeline, Step, prepare_options, run_prepare

#: native model files: read as they are by the import step, prepared by the prepare step
NATIVE_SUFFIXES = (".yaml", ".yml", ".json")


def import_model(source, options: Mapping[str, Any]) -> Graph:
    """A graph from ``source``: a Graph as it is; a native YAML/JSON file read as written; any
    other model file through its frontend (qhw.io.load_model: ONNX is imported and prepared
    with the config, since its quantizers decide the formats)."""
    if isinstance(source, Graph):
        return source
    path = Path(source)
    if path.suffix in NATIVE_SUFFIXES and path.is_file():
        return native.load(path)
    return load_model(path, config=options.get("config"), default=options.get("default"),
                      input_format=options.get("input_format", "ap_fixed<16,6>"),
                      **dict(options.get("import_options") or {}))


def prepare_graph(graph: Graph, options: Mapping[str, Any]) -> Graph:
    """The prepare steps (:data:`qhw.passes.DEFAULT_PIPELINE`) on a copy of ``graph`` (the
    config's Model precision is the default unless ``options`` give one)."""
    return run_prepare(graph, prepare_options(options.get("config"), options.get("default")))


def lower_graph(graph: Graph, options: Mapping[str, Any]) -> Graph:
    """Check that the prepared graph can be lowered before anything is written: the backends
    are registered and the golden test vectors fit within qhw.limits. The graph is unchanged:
    the backends lower each node inside their write today; a hardware rewrite of the graph
    (e.g. one the backends then only print) belongs in this step."""
    known = registry.names()
    for name in options.get("backends", ("rtl", "hls")):
        if name not in known:
            raise ConfigError(f"unknown backend {name!r}; registered: {', '.join(known)}")
    check_batch(graph, options.get("n_vectors", DEFAULT_VECTORS))
    return graph


def compile_step(graph: Graph, options: Mapping[str, Any]) -> Graph:
    """Write OUT (see :func:`qhw.flow.compile.compile_graph`); the report goes into
    ``options["results"]["report"]``."""
    report = compile_graph(graph, options["out"], tuple(options.get("backends", ("rtl", "hls"))),
                           options.get("backend_options"), n_vectors=options.get("n_vectors", DEFAULT_VECTORS),
                           seed=options.get("seed", 0), inputs=options.get("inputs", ()))
    if "results" in options:
        options["results"]["report"] = report
    return graph


#: ``qhw compile``: model file -> OUT
COMPILE_FLOW = Pipeline("compile", (
    Step("import", import_model, "read the model file (native YAML/JSON as written; ONNX through its frontend)"),
    Step("prepare", prepare_graph, "validate, shapes, config, formats: " + " -> ".join(DEFAULT_PIPELINE.names())),
    Step("lower", lower_graph, "check the graph can be lowered: known backends, golden vectors within the limits"),
    Step("compile", compile_step, "write OUT: the backends, model.yaml (+ .npz), vectors, report.json"),
))

#: every flow by name (``qhw compile --list-steps`` shows them)
FLOWS = {flow.name: flow for flow in (COMPILE_FLOW, DEFAULT_PIPELINE)}


def describe() -> str:
    """The flows and their steps, numbered as ``--save-steps`` names the saved models."""
    lines = []
    for flow in FLOWS.values():
        lines.append(f"{flow.name}:")
        width = max(len(s.name) for s in flow)
        for i, step in enumerate(flow, 1):
            lines.append(f"  {i:02d} {step.name:<{width}}  {step.doc}")
    return "\n".join(lines)
