"""Configs in hls4ml 1.3.0's layout, read with hls4ml's meaning (see docs/hls4ml.md).

    Model:     {Precision: {default: fixed<16,6>}, ReuseFactor: 1, Strategy: Latency}
    LayerType: {Dense: {Precision: {weight: ap_fixed<8,3>, accum: auto}}}
    LayerName: {fc1: {Precision: {result: ap_fixed<12,4>}, ReuseFactor: 4}, sig: {TableSize: 512}}

Precision of one slot of one layer, as hls4ml's ``HLSConfig.get_precision``: LayerName[slot],
LayerName[default] (a single string), LayerType[slot], LayerType[default], Model[slot],
Model[default]. ``auto`` is hls4ml's precision inference (:mod:`qhw.config.infer`); ``lossless``
(qhw only) is qhw's lossless inference, the default of models without a config. Layer-level keys
are read in CamelCase or snake_case (hls4ml turns them into snake_case); Model-level keys exactly
as hls4ml reads them. Keys that hls4ml accepts but ignores are accepted and reported in
``warnings``; keys that only change hls4ml's build (BramFactor, Trace, …) in ``ignored_keys``; any
other key is an error naming its path and what is valid. Values are validated by the declared
schema in :mod:`qhw.config.schema` (pydantic v2).
"""
from __future__ import annotations

import warnings as _warnings
from pathlib import Path
from typing import Any


from qhw.config.precision import AUTO, LOSSLESS, hls4ml_spelling, parse_precision
from qhw.config.schema import (HLS4ML_CLASS, IGNORED, LAYER_TYPES, MODEL_IGNORED, SLOTS, TABLE_SLOTS,
                               TOP_IGNORED, Scope, parse_layer_scope, parse_model_scope, snake)
from qhw.errors import ConfigError
from qhw.fixed import FixedFormat

_TOP = ("Model", "LayerType", "LayerName")
_CLASSES = {c.lower() for c in HLS4ML_CLASS.values()}


class ConfigWarning(UserWarning):
    """A config key that hls4ml accepts but ignores (qhw ignores it too and says so)."""


class ModelConfig:
    """A parsed configuration; see the module docstring."""

    #: a config in hls4ml's layout is read with hls4ml's conventions (product casts, auto, ...)
    hls4ml = True

    def __init__(self, raw: dict | None = None) -> None:
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ConfigError(f"a config is a mapping with sections {', '.join(_TOP)}, "
                              f"got {type(raw).__name__}")
        self.ignored_keys: list[str] = []
        self.warnings: list[str] = []
        for key in raw:
            if key not in _TOP:
                if key in TOP_IGNORED:
                    self.ignored_keys.append(str(key))
                    continue
                raise ConfigError(f"unknown config key {key}; valid: {', '.join(_TOP)} (and hls4ml's "
                                  f"project keys {', '.join(TOP_IGNORED)})")
        #: hls4ml's ClockPeriod (ns) when the config gives one: the RTL's clock_period default
        self.clock_period = _clock_period(raw.get("ClockPeriod"))
        self.model = parse_model_scope(raw.get("Model") or {}, "Model", self.ignored_keys, self.warnings)
        self.types: dict[str, Scope] = {}
        types = raw.get("LayerType") or {}
        if not isinstance(types, dict):
            raise ConfigError(f"LayerType must be a mapping of layer classes, got {type(types).__name__}")
        for name, sc in types.items():
            if str(name).lower() not in LAYER_TYPES:
                raise ConfigError(f"unknown layer type LayerType.{name}; known: "
                                  f"{', '.join(sorted(set(HLS4ML_CLASS.values())))} and aliases "
                                  f"{', '.join(sorted(LAYER_TYPES))}")
            scope = parse_layer_scope(sc, f"LayerType.{name}", self.ignored_keys, self.warnings)
            if str(name).lower() not in _CLASSES:
                ops = LAYER_TYPES[str(name).lower()]
                self.warnings.append(
                    f"LayerType.{name} has no effect in hls4ml: it matches LayerType by its own layer "
                    f"class ({', '.join(sorted({HLS4ML_CLASS.get(o, '?') for o in ops}))}), not by the "
                    "source framework's name (qhw ignores it too)")
                continue
            self.types[str(name).lower()] = scope
        names = raw.get("LayerName") or {}
        if not isinstance(names, dict):
            raise ConfigError(f"LayerName must be a mapping of layer names, got {type(names).__name__}")
        self.names = {str(n): parse_layer_scope(sc, f"LayerName.{n}", self.ignored_keys, self.warnings)
                      for n, sc in names.items()}
        self._lower_names = {n.lower(): sc for n, sc in self.names.items()}

    # ------------------------------------------------------------------ lookups
    def _name_scope(self, layer_name: str) -> Scope | None:
        # hls4ml matches precision/ReuseFactor/Strategy by the lower-cased name
        return self.names.get(layer_name) or self._lower_names.get(str(layer_name).lower())

    def _type_scopes(self, op: str) -> list[Scope]:
        return [sc for t, sc in self.types.items() if op in LAYER_TYPES[t]]

    def _scopes(self, layer_name: str, op: str) -> list[Scope]:
        sc = self._name_scope(layer_name)
        return ([sc] if sc is not None else []) + self._type_scopes(op)

    def precision(self, layer_name: str, op: str, slot: str):
        """FixedFormat, ``"auto"``, ``"lossless"`` or None (nothing configured) for one slot.

        The chain of hls4ml's get_precision (module docstring); table slots (``table``,
        ``exp_table``, ``inv_table``) come only from a layer-level ``table_t``/``exp_table_t``/
        ``inv_table_t`` key, as in hls4ml (``Precision: {table: ...}`` has no effect there)."""
        if slot in TABLE_SLOTS:
            return self.attr(layer_name, op, f"{slot}_t")
        name_sc = self._name_scope(layer_name)
        if name_sc is not None:
            for key in (slot, "default"):
                if key in name_sc.precision:
                    return name_sc.precision[key]
        types = self._type_scopes(op)
        for key in (slot, "default"):
            for sc in types:
                if key in sc.precision:
                    return sc.precision[key]
        for key in (slot, "default"):
            if key in self.model.precision:
                return self.model.precision[key]
        return None

    @property
    def default(self) -> FixedFormat | None:
        """The Model-level default precision (a single string or its ``default`` slot)."""
        p = self.model.precision.get("default")
        return p if isinstance(p, FixedFormat) else None

    @property
    def maximum(self) -> FixedFormat | None:
        """Model ``Precision: {maximum: ...}``: the cap of hls4ml's inferred (auto) types."""
        p = self.model.precision.get("maximum")
        return p if isinstance(p, FixedFormat) else None

    def attr(self, layer_name: str, op: str, key: str, default=None):
        """A layer-level value (``TableSize`` and ``table_size`` are the same key): LayerName, then
        LayerType; Model only for the keys hls4ml reads there (ReuseFactor, Strategy, ...)."""
        k = snake(key)
        for sc in self._scopes(layer_name, op):
            if k in sc.values:
                return sc.values[k]
        if k in self.model.values:
            return self.model.values[k]
        return default

    def reuse_factor(self, layer_name: str, op: str) -> int:
        return int(self.attr(layer_name, op, "reuse_factor", 1))

    def strategy(self, layer_name: str, op: str) -> str:
        return str(self.attr(layer_name, op, "strategy", "latency"))


def hls4ml_config(graph) -> dict:
    """A prepared graph's formats as an hls4ml config (granularity ``name``), every type in
    hls4ml's spelling (``fixed<16,6,TRN,WRAP,0>``): give it to hls4ml (``hls_config=``) for the
    same layers, or back to qhw, to get the same numbers."""
    from qhw.ops import get

    names: dict[str, dict] = {}
    for node in graph.nodes():
        slots = [s for s in get(node.op, node.name).hls4ml_slots if s in node.formats]
        if not slots:
            continue
        entry: dict[str, Any] = {"Precision": {s: hls4ml_spelling(node.formats[s]) for s in slots}}
        if "reuse_factor" in node.attrs:
            entry["ReuseFactor"] = int(node.attrs["reuse_factor"])
        if "table" in node.formats:
            entry["table_t"] = hls4ml_spelling(node.formats["table"])
        names[node.name] = entry
    default = graph.default_format or FixedFormat(16, 6)
    return {"Model": {"Precision": {"default": hls4ml_spelling(default)}, "ReuseFactor": 1,
                      "Strategy": "Latency"}, "LayerName": names}


def _clock_period(value) -> float | None:
    """hls4ml's ``ClockPeriod``: a number of ns > 0 (None when absent)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1e6:
        raise ConfigError(f"config ClockPeriod must be a number of ns in (0, 1e6], got {value!r}")
    return float(value)


def load_config(source, *, warn: bool = True) -> ModelConfig:
    """A ModelConfig from a YAML/JSON file path, a dict, or None (empty). Keys that hls4ml ignores
    are reported as :class:`ConfigWarning` (one per key) unless ``warn`` is False."""
    if source is None or isinstance(source, ModelConfig):
        return source if isinstance(source, ModelConfig) else ModelConfig({})
    if isinstance(source, dict):
        cfg = ModelConfig(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        from qhw.io.documents import read_document

        # the one reader of YAML/JSON documents: aliases (expanded), nesting and bytes within
        # qhw.limits, no Python tags, no RecursionError
        raw = read_document(path, "config file", ConfigError)
        try:
            cfg = ModelConfig(raw or {})
        except ConfigError as exc:
            raise ConfigError(f"config file {str(path)!r}: {exc}") from None
    if warn:
        for w in cfg.warnings:
            _warnings.warn(w, ConfigWarning, stacklevel=2)
    return cfg


__all__ = ["ModelConfig", "ConfigWarning", "load_config", "hls4ml_config", "parse_precision", "hls4ml_spelling",
           "SLOTS", "IGNORED", "MODEL_IGNORED", "LAYER_TYPES", "HLS4ML_CLASS", "AUTO", "LOSSLESS"]
