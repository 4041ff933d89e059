"""Precision configuration in hls4ml's layout, so hls4ml users can reuse theirs as is.

    Model:     {Precision: ap_fixed<16,6>, ReuseFactor: 1, Strategy: Latency}
    LayerType: {Dense: {Precision: {weight: ap_fixed<8,3>, accum: auto}}}
    LayerName: {fc1: {Precision: {result: ap_fixed<12,4>}, ReuseFactor: 4}, sig: {table_size: 512}}

Precedence: LayerName > LayerType > Model. ``Precision`` is one type string (every slot of that
scope) or a dict of slots (weight, bias, accum, result, table, default). ``auto`` means: let qhw
infer it (lossless where bit growth is finite). At Model level a single string is the default
precision, used for what is neither configured nor inferable losslessly (results after a
multiply-accumulate, constants), as in hls4ml. Keys that do not change the numbers are accepted
and listed in ``ignored_keys``; any other unknown key is an error naming it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qhw.errors import ConfigError
from qhw.fixed import FixedFormat

SLOTS = ("weight", "bias", "accum", "result", "table", "default", "scale", "exp_table", "inv_table", "inv_inp")
#: type slots hls4ml takes only from a layer-level ``<slot>_t`` key (it ignores Precision.<slot>)
TABLE_SLOTS = ("table", "exp_table", "inv_table", "inv_inp", "inp_norm")
#: hls4ml keys accepted without effect on the numbers
IGNORED = ("BramFactor", "TraceOutput", "Trace", "ChannelsLastConversion", "TransposeOutputs",
           "InputShape", "Compression", "ConvImplementation", "ParallelizationFactor",
           "Pipeline", "PipelineStyle", "PipelineInterval", "OutputRounding", "OutputSaturation",
           "MergedRelu", "StreamSize")
_SCOPE_KEYS = ("Precision", "ReuseFactor", "Strategy", "table_size", "table_t", "exp_table_t",
               "inv_table_t", "implementation", "table_range", "inv_inp_t", "inp_norm_t", "exp_table_size",
               "inv_table_size", "exp_scale", "skip")
_TOP = ("Model", "LayerType", "LayerName")
#: hls4ml layer class names -> qhw ops (matched case-insensitively)
LAYER_TYPES = {
    "dense": ("dense",), "qdense": ("dense",), "linear": ("dense",),
    "conv1d": ("conv1d",), "qconv1d": ("conv1d",), "conv2d": ("conv2d",), "qconv2d": ("conv2d",),
    "relu": ("relu",), "activation": ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid", "softmax"),
    "qactivation": ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid"),
    "sigmoid": ("sigmoid",), "tanh": ("tanh",), "softmax": ("softmax",),
    "hardsigmoid": ("hard_sigmoid",), "hard_sigmoid": ("hard_sigmoid",), "relu6": ("relu6",),
    "maxpooling1d": ("maxpool1d",), "maxpooling2d": ("maxpool2d",), "maxpool1d": ("maxpool1d",),
    "maxpool2d": ("maxpool2d",), "averagepooling1d": ("avgpool1d",),
    "averagepooling2d": ("avgpool2d",), "avgpool1d": ("avgpool1d",), "avgpool2d": ("avgpool2d",),
    "add": ("add",), "multiply": ("mul",), "mul": ("mul",), "concatenate": ("concat",),
    "concat": ("concat",), "flatten": ("flatten",), "reshape": ("reshape",), "input": ("input",),
    "upsampling1d": ("upsample",), "upsampling2d": ("upsample",), "upsample": ("upsample",),
    "multithreshold": ("threshold",), "threshold": ("threshold",),
    "depthtospace": ("depth_to_space",), "depth_to_space": ("depth_to_space",),
    "inputlayer": ("input",), "embedding": ("embedding",), "clip": ("clip",),
}


def _parse_format(value, where: str):
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return FixedFormat.parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass
class _Scope:
    precision: dict[str, Any] = field(default_factory=dict)  # slot -> FixedFormat | "auto"
    values: dict[str, Any] = field(default_factory=dict)


def _scope(raw, where: str, ignored: list[str]) -> _Scope:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(raw).__name__}")
    sc = _Scope()
    for key, value in raw.items():
        path = f"{where}.{key}"
        if key not in _SCOPE_KEYS and key not in IGNORED and isinstance(key, str):
            key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()  # hls4ml: TableSize == table_size
        if key == "Precision":
            if isinstance(value, dict):
                for slot, v in value.items():
                    if slot not in SLOTS:
                        raise ConfigError(f"unknown precision slot {path}.{slot}; valid: {', '.join(SLOTS)}")
                    sc.precision[slot] = _parse_format(v, f"{path}.{slot}")
            else:
                sc.precision["*"] = _parse_format(value, path)
        elif key in _SCOPE_KEYS:
            if key == "ReuseFactor" and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{path} must be an integer >= 1, got {value!r}")
            if key.endswith("_t"):
                value = _parse_format(value, path)
            sc.values[key] = value
        elif key in IGNORED:
            ignored.append(path)
        else:
            raise ConfigError(f"unknown config key {path}; valid here: "
                              f"{', '.join(_SCOPE_KEYS + IGNORED)}")
    return sc


class ModelConfig:
    """A parsed configuration; see the module docstring."""

    def __init__(self, raw: dict | None = None) -> None:
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"a config is a mapping with sections {', '.join(_TOP)}")
        self.ignored_keys: list[str] = []
        for key in raw:
            if key not in _TOP:
                if key in IGNORED or key in ("Backend", "Part", "ClockPeriod", "IOType", "Version",
                                             "ProjectName", "OutputDir", "HLSConfig"):
                    self.ignored_keys.append(key)
                    continue
                raise ConfigError(f"unknown config key {key}; valid: {', '.join(_TOP)}")
        self.model = _scope(raw.get("Model") or {}, "Model", self.ignored_keys)
        self.types: dict[str, _Scope] = {}
        for name, sc in (raw.get("LayerType") or {}).items():
            if name.lower() not in LAYER_TYPES:
                raise ConfigError(f"unknown layer type LayerType.{name}; known: "
                                  f"{', '.join(sorted(LAYER_TYPES))}")
            self.types[name.lower()] = _scope(sc, f"LayerType.{name}", self.ignored_keys)
        self.names = {str(n): _scope(sc, f"LayerName.{n}", self.ignored_keys)
                      for n, sc in (raw.get("LayerName") or {}).items()}

    def _scopes(self, layer_name: str, op: str) -> list[_Scope]:
        out = []
        if layer_name in self.names:
            out.append(self.names[layer_name])
        out += [sc for t, sc in self.types.items() if op in LAYER_TYPES[t]]
        return out

    def precision(self, layer_name: str, op: str, slot: str):
        """FixedFormat, "auto" or None (not configured) for one slot of one layer."""
        hls4ml_table = slot in TABLE_SLOTS and op in ("sigmoid", "tanh", "softmax")
        for sc in self._scopes(layer_name, op):
            if hls4ml_table:
                if slot + "_t" in sc.values:
                    return sc.values[slot + "_t"]
                continue
            for key in (slot, "*"):
                if key in sc.precision:
                    return sc.precision[key]
        if slot in self.model.precision and not hls4ml_table:
            return self.model.precision[slot]
        return None

    @property
    def default(self) -> FixedFormat | None:
        """The Model-level precision (a single string or its ``default`` slot)."""
        for key in ("*", "default"):
            p = self.model.precision.get(key)
            if isinstance(p, FixedFormat):
                return p
        return None

    def attr(self, layer_name: str, op: str, key: str, default=None):
        for sc in self._scopes(layer_name, op) + [self.model]:
            if key in sc.values:
                return sc.values[key]
        return default

    def reuse_factor(self, layer_name: str, op: str) -> int:
        return int(self.attr(layer_name, op, "ReuseFactor", 1))

    def strategy(self, layer_name: str, op: str) -> str:
        return str(self.attr(layer_name, op, "Strategy", "Latency"))


def load_config(source) -> ModelConfig:
    """A ModelConfig from a YAML/JSON file path, a dict, or None (empty)."""
    if source is None or isinstance(source, ModelConfig):
        return source if isinstance(source, ModelConfig) else ModelConfig({})
    if isinstance(source, dict):
        return ModelConfig(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    return ModelConfig(raw or {})


__all__ = ["ModelConfig", "load_config", "SLOTS", "IGNORED", "LAYER_TYPES"]
