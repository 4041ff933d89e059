"""The declared schema of a config (pydantic v2): which keys, which values, where.

pydantic validates the values (types, ranges, enumerations) of the keys once their spelling is
normalized; errors are turned into one ConfigError naming the key path as the user wrote it and
what is valid. The key sets follow hls4ml 1.3.0: ``HLSConfig._parse_hls_config`` (Model keys,
read with their exact spelling), ``Layer.__init__`` (every layer-level key turned into snake_case)
and the configurable attributes of its layer classes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from qhw import limits, ops
from qhw.config.precision import parse_precision
from qhw.errors import ConfigError
from qhw.fixed import FixedFormat

#: precision slots of a layer's ``Precision`` mapping
SLOTS = ("weight", "bias", "accum", "result", "default", "scale", "table", "exp_table", "inv_table",
         "inv_inp", "inp_norm")
#: slots hls4ml never reads from ``Precision`` (only a layer-level ``<slot>_t`` key sets them)
TABLE_SLOTS = ("table", "exp_table", "inv_table", "inv_inp", "inp_norm")
#: slots of the Model-level ``Precision`` mapping that hls4ml reads
MODEL_SLOTS = ("default", "maximum", "weight", "bias", "accum", "result")
#: Model keys hls4ml reads that change its build but not the numbers
MODEL_IGNORED = ("BramFactor", "TraceOutput", "ConvImplementation", "Compression", "PipelineStyle",
                 "PipelineInterval", "ChannelsLastConversion", "TransposeOutputs", "TargetCycles")
#: top-level keys of hls4ml's project config (accepted; no effect on the numbers)
TOP_IGNORED = ("Backend", "Part", "ClockPeriod", "ClockUncertainty", "IOType", "Version", "ProjectName",
               "OutputDir", "HLSConfig", "InputShape", "PytorchModel", "KerasModel", "OnnxModel",
               "WriterConfig", "Flows", "Optimizers", "SkipOptimizers", "InputData", "OutputPredictions")
#: layer-level keys (snake_case) that change hls4ml's build but not the numbers
LAYER_IGNORED = ("trace", "parallelization_factor", "conv_implementation", "compression", "target_cycles")
#: kept for callers of the old API: every key accepted without an effect on the numbers
IGNORED = MODEL_IGNORED + tuple("".join(p.title() for p in k.split("_")) for k in LAYER_IGNORED)

#: qhw op -> the hls4ml layer class it is (LayerType keys match these, case-insensitively): the
#: ops' ``hls4ml_class``
HLS4ML_CLASS = {op: ops.get(op).hls4ml_class for op in ops.names() if ops.get(op).hls4ml_class}
#: LayerType key (lower case) -> qhw ops: hls4ml's class names plus the spellings qhw accepted before
#: (the ops' ``hls4ml_names``)
LAYER_TYPES: dict[str, tuple[str, ...]] = {}
for _op in ops.names():
    for _key in ops.get(_op).hls4ml_names:
        LAYER_TYPES[_key] = LAYER_TYPES.get(_key, ()) + (_op,)
for _op, _cls in HLS4ML_CLASS.items():
    LAYER_TYPES[_cls.lower()] = LAYER_TYPES.get(_cls.lower(), ()) + (_op,)

STRATEGIES = ("latency", "resource", "resource_unrolled", "distributed_arithmetic")
SOFTMAX_IMPLEMENTATIONS = ("latency", "stable", "argmax", "legacy")


def snake(key: str) -> str:
    """hls4ml's ``convert_to_snake_case``: ``TableSize`` -> ``table_size``, ``table_t`` unchanged."""
    s = re.sub(r"(?<!^)(?=[A-Z])", "_", str(key)).lower()
    return re.sub(r"_{2,}", "_", s)


def _precision(v):
    return parse_precision(v)


def _fixed(v):
    p = parse_precision(v)
    if not isinstance(p, FixedFormat):
        raise ValueError(f"must be a fixed-point type such as 'ap_fixed<18,8>', got {v!r}")
    return p


def _lower_snake(v):
    return snake(v) if isinstance(v, str) else v


Precision = Annotated[Any, BeforeValidator(_precision)]
Fixed = Annotated[Any, BeforeValidator(_fixed)]
StrategyT = Annotated[Literal[STRATEGIES], BeforeValidator(_lower_snake)]  # type: ignore[valid-type]
Implementation = Annotated[Literal[SOFTMAX_IMPLEMENTATIONS],  # type: ignore[valid-type]
                           BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class LayerValues(BaseModel):
    """Layer-level keys (snake_case) other than ``Precision``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    reuse_factor: PositiveInt | None = None
    strategy: StrategyT | None = None
    table_size: Annotated[StrictInt, Field(ge=2)] | None = None
    table_t: Fixed | None = None
    exp_table_t: Fixed | None = None
    inv_table_t: Fixed | None = None
    inv_inp_t: Fixed | None = None
    inp_norm_t: Fixed | None = None
    exp_table_size: Annotated[StrictInt, Field(ge=2)] | None = None
    inv_table_size: Annotated[StrictInt, Field(ge=2)] | None = None
    exp_scale: Annotated[float, Field(allow_inf_nan=False)] | None = None
    implementation: Implementation | None = None
    table_range: Annotated[float, Field(gt=0)] | None = None
    skip: StrictBool | None = None
    trace: StrictBool | None = None
    parallelization_factor: PositiveInt | None = None
    conv_implementation: Literal["LineBuffer", "Encoded"] | None = None
    compression: StrictBool | None = None
    target_cycles: PositiveInt | None = None


class ModelValues(BaseModel):
    """Model-level keys other than ``Precision``, spelled as hls4ml reads them."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    ReuseFactor: PositiveInt | None = None
    Strategy: StrategyT | None = None
    BramFactor: Annotated[int, Field(ge=0)] | float | None = None
    TraceOutput: StrictBool | None = None
    ConvImplementation: Literal["LineBuffer", "Encoded"] | None = None
    Compression: StrictBool | int | None = None
    PipelineStyle: Literal["auto", "pipeline", "dataflow"] | None = None
    PipelineInterval: PositiveInt | None = None
    ChannelsLastConversion: Literal["full", "internal", "off"] | None = None
    TransposeOutputs: StrictBool | None = None
    TargetCycles: PositiveInt | None = None


_VALID_HINT = {
    "reuse_factor": "an integer >= 1", "ReuseFactor": "an integer >= 1",
    "strategy": f"one of {', '.join(STRATEGIES)} (CamelCase accepted)",
    "Strategy": f"one of {', '.join(STRATEGIES)} (CamelCase accepted)",
    "table_size": "an integer >= 2", "implementation": f"one of {', '.join(SOFTMAX_IMPLEMENTATIONS)}",
    "skip": "true or false",
}


@dataclass
class Scope:
    precision: dict[str, Any] = field(default_factory=dict)  # slot -> FixedFormat | "auto" | "lossless"
    values: dict[str, Any] = field(default_factory=dict)      # snake_case key -> validated value


def _validate(model: type[BaseModel], data: dict, paths: dict[str, str]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        path = paths.get(key, key)
        hint = _VALID_HINT.get(key)
        msg = err["msg"].removeprefix("Value error, ")
        got = data.get(key, err.get("input"))
        raise ConfigError(f"config {path}: {msg}" + (f"; valid: {hint}" if hint else "")
                          + f" (got {got!r})") from None


def _parse_slot(value, path: str):
    try:
        return parse_precision(value)
    except ValueError as exc:
        raise ConfigError(f"config {path}: {exc}") from None


def _precision_mapping(value, path: str, valid: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(value, dict):
        out = {}
        for slot, v in value.items():
            if slot not in valid:
                raise ConfigError(f"unknown precision slot {path}.{slot}; valid: {', '.join(valid)}")
            out[slot] = _parse_slot(v, f"{path}.{slot}")
        return out
    return {"default": _parse_slot(value, path)}


def parse_layer_scope(raw, where: str, ignored: list[str], warnings: list[str]) -> Scope:
    if not isinstance(raw, dict):
        raise ConfigError(f"config {where} must be a mapping, got {type(raw).__name__}")
    sc = Scope()
    data: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for key, value in raw.items():
        path = f"{where}.{key}"
        if key == "Precision":
            sc.precision = _precision_mapping(value, path, SLOTS)
            for slot in TABLE_SLOTS:
                if sc.precision.pop(slot, None) is not None:
                    warnings.append(f"{path}.{slot} has no effect in hls4ml: only a layer-level "
                                    f"{slot}_t key sets that type (qhw ignores it too)")
            continue
        k = snake(key)
        if k not in LayerValues.model_fields:
            raise ConfigError(f"unknown config key {path}; valid here: Precision, "
                              f"{', '.join(LayerValues.model_fields)} (or their CamelCase spelling)")
        if k in data:
            raise ConfigError(f"config {path}: {paths[k]} and {path} are the same key "
                              f"(hls4ml reads both as {k})")
        data[k], paths[k] = value, path
        if k in LAYER_IGNORED:
            ignored.append(path)
    values = _validate(LayerValues, data, paths)
    sc.values = {k: getattr(values, k) for k in data}
    if "reuse_factor" in sc.values:
        limits.check("reuse_factor", sc.values["reuse_factor"], f"config {paths['reuse_factor']}")
    if "table_size" in sc.values:
        limits.check("table_entries", sc.values["table_size"], f"config {paths['table_size']}")
    return sc


def parse_model_scope(raw, where: str, ignored: list[str], warnings: list[str]) -> Scope:
    if not isinstance(raw, dict):
        raise ConfigError(f"config {where} must be a mapping, got {type(raw).__name__}")
    sc = Scope()
    data: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{where}.{key}"
        if key == "Precision":
            sc.precision = _precision_mapping(value, path, MODEL_SLOTS + TABLE_SLOTS + ("scale",))
            for slot in TABLE_SLOTS + ("scale",):
                if sc.precision.pop(slot, None) is not None:
                    warnings.append(f"{path}.{slot} has no effect in hls4ml: it reads this slot from "
                                    "no Model-level precision (qhw ignores it too)")
            if sc.precision.get("maximum") is not None and not isinstance(sc.precision["maximum"],
                                                                           FixedFormat):
                raise ConfigError(f"config {path}.maximum must be a fixed-point type")
            continue
        if key in ModelValues.model_fields:
            data[key] = value
            if key in MODEL_IGNORED:
                ignored.append(path)
            continue
        k = snake(key)
        if k in LayerValues.model_fields or snake(k) in {snake(f) for f in ModelValues.model_fields}:
            warnings.append(f"{path} has no effect in hls4ml: it reads {key} only per layer "
                            "(LayerType/LayerName) or under another spelling at Model level "
                            "(qhw ignores it too)")
            continue
        raise ConfigError(f"unknown config key {path}; valid here: Precision, "
                          f"{', '.join(ModelValues.model_fields)}")
    values = _validate(ModelValues, data, {k: f"{where}.{k}" for k in data})
    for k in ("ReuseFactor", "Strategy"):
        v = getattr(values, k)
        if v is not None:
            sc.values[snake(k)] = v
    if "reuse_factor" in sc.values:
        limits.check("reuse_factor", sc.values["reuse_factor"], f"config {where}.ReuseFactor")
    return sc
