"""Named steps and the step lists that run them (QONNX's transforms, FINN's build steps).

A :class:`Step` is a named function ``(graph, options) -> graph``; a :class:`Pipeline` runs its
steps in order, can stop after any of them and hands each intermediate graph to a callback (which
may save it). ``options`` is one dict every step reads what it needs from (``config``, ``default``,
backend options...). The prepare pipeline lives here because the passes themselves re-prepare
graphs (folding, calibration, affine lowering); :mod:`qhw.flow` adds import, lower and compile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from qhw.config import load_config
from qhw.errors import ConfigError
from qhw.graph import Graph
from qhw.passes.formats import infer_formats
from qhw.passes.hardware import apply_config
from qhw.passes.shapes import attribute_errors, check_hardware_options, infer_shapes


@dataclass(frozen=True)
class Step:
    """One named step: ``run(graph, options)`` returns the graph after it (``doc``: one line)."""

    name: str
    run: Callable[[Any, Mapping[str, Any]], Any]
    doc: str = ""

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


@dataclass(frozen=True)
class Pipeline:
    """Named steps run in order: ``run(graph, options, stop_after=..., after_step=...)``."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"pipeline {self.name!r} repeats a step name: {names}")

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def check_step(self, name: str) -> str:
        """``name`` if it is one of the steps, else a ConfigError listing the valid ones."""
        if name not in self.names():
            raise ConfigError(f"unknown step {name!r} of the {self.name} flow; its steps are: "
                              f"{', '.join(self.names())}")
        return name

    def run(self, graph, options: Mapping[str, Any] | None = None, stop_after: str | None = None,
            after_step: Callable[[int, Step, Any], None] | None = None):
        """The graph after the last step (or after ``stop_after``); ``after_step(index, step,
        graph)`` is called after each step (index from 1)."""
        if stop_after is not None:
            self.check_step(stop_after)
        options = dict(options or {})
        for i, step in enumerate(self.steps, 1):
            graph = step.run(graph, options)
            if after_step is not None:
                after_step(i, step, graph)
            if step.name == stop_after:
                break
        return graph


def validate(graph: Graph) -> Graph:
    graph.validate()
    return graph


#: What :func:`prepare` runs, in order: structure, shapes, hardware options, formats.
DEFAULT_PIPELINE = Pipeline("prepare", (
    Step("validate", lambda g, o: validate(g), "structure: inputs exist, no cycles, op attributes"),
    Step("infer_shapes", lambda g, o: infer_shapes(g), "every node's output shape (sizes within qhw.limits)"),
    Step("apply_config", lambda g, o: apply_config(g, o.get("config")),
         "reuse factor, strategy, table size from the config onto nodes"),
    Step("check_hardware_options", lambda g, o: check_hardware_options(g),
         "reuse factors and table sizes are integers within their limits"),
    Step("infer_formats", lambda g, o: infer_formats(g, config=o.get("config"), default=o.get("default")),
         "every slot's format: config > node > lossless inference > default"),
))


def prepare_options(config: Any = None, default=None) -> dict[str, Any]:
    """{config, default} for the prepare steps: a config path is read (qhw.config), and its
    Model precision is the default unless one is given."""
    if isinstance(config, (str, bytes)) or hasattr(config, "__fspath__"):
        config = load_config(config)
    if default is None and getattr(config, "default", None) is not None:
        default = config.default
    return {"config": config, "default": default}


def run_prepare(graph: Graph, options: Mapping[str, Any]) -> Graph:
    """The prepare steps on a copy of ``graph`` (malformed attributes become a ModelError)."""
    g = graph.copy()
    with attribute_errors(g):
        return DEFAULT_PIPELINE.run(g, options)


def prepare(graph: Graph, config: Any = None, default=None) -> Graph:
    """A validated copy of ``graph`` with shapes and formats inferred (``graph.notes``: every
    slot narrower than lossless). config: a qhw.config.ModelConfig (hls4ml layout), a path to
    one, or a dict {layer: {slot: format}}; its Model precision is the default unless given."""
    return run_prepare(graph, prepare_options(config, default))
