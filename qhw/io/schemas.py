"""Declared schemas of the documents qhw reads: native model files, ``report.json``,
``design.json`` and ``results.csv`` headers.

Why pydantic (v2): the schemas are plain typed classes that read like the documents they describe;
a validation error carries the exact location (``nodes[3].formats.weight``) and the offending
value, which is what the one-line error needs; and it is a widely used, well-kept library (the
hls4ml-style config is validated the same way in :mod:`qhw.config`). Validation is strict: a
string is not silently turned into a number or a list into a dict, and unknown keys are refused
where qhw writes the whole document itself.
"""
from __future__ import annotations

import math
import re
from typing import Any, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr,
                      field_validator)
from pydantic import ValidationError

from qhw.errors import ModelError, QhwError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Open(BaseModel):
    """A document other qhw versions may extend: unknown keys are kept, known ones are typed."""

    model_config = ConfigDict(extra="allow", strict=True)


Number = Union[StrictInt, StrictFloat]


# --------------------------------------------------------------------------- native model
class NativeQuantParams(_Strict):
    scale: Union[Number, list[Number]]
    zero_point: Union[StrictInt, list[StrictInt]] = 0
    bits: StrictInt = Field(8, ge=1, le=64)
    signed: StrictBool = True
    narrow_range: StrictBool = False
    axis: Optional[StrictInt] = None
    group_size: Optional[StrictInt] = Field(None, ge=1)


class NativeNode(_Strict):
    name: StrictStr = Field(min_length=1)
    op: StrictStr = Field(min_length=1)
    inputs: list[StrictStr] = []
    #: plain data (numbers, strings, booleans, null, lists, maps); each op types its own
    attrs: dict[StrictStr, Any] = {}
    params: list[StrictStr] = []
    formats: dict[StrictStr, StrictStr] = {}
    inferred: list[StrictStr] = []
    qparams: Optional[NativeQuantParams] = None

    @field_validator("attrs")
    @classmethod
    def _plain_finite(cls, attrs: dict) -> dict:
        stack = list(attrs.items())
        while stack:
            key, v = stack.pop()
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"attribute {key!r} holds the non-finite number {v}")
            if isinstance(v, (list, tuple)):
                stack.extend((f"{key}[{i}]", x) for i, x in enumerate(v))
            elif isinstance(v, dict):
                stack.extend((f"{key}.{k}", x) for k, x in v.items())
            elif not isinstance(v, (str, int, float, bool, type(None))):
                raise ValueError(f"attribute {key!r} holds a {type(v).__name__}, not plain data")
        return attrs


class NativeModel(_Strict):
    """A qhw model file (YAML or JSON); constants live in the .npz named by ``weights``."""

    qhw_model: Literal[1] = 1
    name: Optional[StrictStr] = None
    default: Optional[StrictStr] = None
    weights: Optional[StrictStr] = None
    nodes: list[NativeNode]


# --------------------------------------------------------------------------- compile output
class Port(_Open):
    name: StrictStr
    bits: StrictInt = Field(ge=1)
    elements: StrictInt = Field(ge=1)
    width: StrictInt = Field(ge=1, le=64)
    lo: StrictInt = Field(ge=0)
    signed: StrictBool
    shape: list[StrictInt]
    format: StrictStr


class Design(_Open):
    """``OUT/rtl/design.json``: the RTL top, its files (inside the rtl folder) and its ports."""

    top: StrictStr = Field(min_length=1)
    files: list[StrictStr] = Field(min_length=1)
    inputs: list[Port] = Field(min_length=1)
    outputs: list[Port] = Field(min_length=1)
    latency: StrictInt = Field(ge=0)
    ii: StrictInt = Field(ge=1)
    sim_files: list[StrictStr] = []  # the simulation flavour (qhw.backends.verilog.write_verilog)


class HlsPort(_Open):
    name: StrictStr
    size: StrictInt = Field(ge=1)
    width: StrictInt = Field(ge=1, le=64)
    signed: StrictBool
    shape: list[StrictInt]


class HlsManifest(_Open):
    """``OUT/hls/qhw_hls.json``: the HLS top, its files (inside the hls folder) and its ports."""

    top: StrictStr = Field(min_length=1)
    files: list[StrictStr] = []
    sources: list[StrictStr] = []
    inputs: list[HlsPort] = Field(min_length=1)
    outputs: list[HlsPort] = Field(min_length=1)


class Vectors(_Open):
    samples: StrictInt = Field(ge=0)
    seed: StrictInt
    input: StrictStr
    expected: StrictStr


class Report(_Open):
    """``OUT/report.json`` written by ``qhw compile``."""

    graph: StrictStr
    backends: dict[StrictStr, StrictStr] = Field(min_length=1)
    model: StrictStr = "model.yaml"
    options: dict[StrictStr, dict[StrictStr, Any]] = {}
    vectors: Vectors
    top: Optional[StrictStr] = None
    latency: Optional[StrictInt] = None
    ii: Optional[StrictInt] = None


# --------------------------------------------------------------------------- sweep results
class ResultsHeader(_Strict):
    """The header of ``results.csv``: ``id``, the sweep axes (``weights``, ``fc1.weights``...),
    the metrics and resources, ``status``. Anything else is not a results file of qhw."""

    columns: list[StrictStr]

    @classmethod
    def check(cls, columns: list[str], known: set[str], axes: tuple[str, ...], where: str,
              partial: bool = False) -> None:
        """``partial``: a header cut short by a kill (the trailing names may be missing)."""
        columns = cls(columns=columns).columns
        if not columns or columns[0] != "id" or ("status" not in columns and not partial):
            raise QhwError(f"{where} is not a qhw results file: its header {_short(columns)} does "
                           "not start with 'id' and have a 'status' column (move it away or "
                           "choose another -o)")
        axis = re.compile(r"^(?:[^,\s]+\.)?(?:" + "|".join(map(re.escape, axes)) + r")$")
        bad = [c for c in columns if c not in known and not axis.match(c)]
        if bad or len(set(columns)) != len(columns):
            what = f"unknown column {bad[0]!r}" if bad else "a repeated column"
            raise QhwError(f"{where}: {what} in its header; a qhw results file has id, the sweep "
                           "axes, metrics, resources and status (move it away or choose another -o)")


def _short(columns: list[str]) -> str:
    text = repr(columns)
    return text if len(text) <= 80 else text[:77] + "...]"


# --------------------------------------------------------------------------- errors
def _loc(loc: tuple, doc: Any) -> str:
    """``nodes[3] (node 'fc1').formats.weight`` from a pydantic location."""
    out, cur = "", doc
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
            if isinstance(cur, dict) and isinstance(cur.get("name"), str) and cur.get("op") is not None:
                out += f" (node {cur['name']!r})"
        else:
            out += ("." if out else "") + str(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return out


def _value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(model: type[BaseModel], doc: Any, where: str, error: type[QhwError] = ModelError):
    """``model`` validated from ``doc``; otherwise ``error``: one line naming ``where``, the
    first problem's location, what was found and what is valid (and how many problems more)."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        e = errs[0]
        loc = _loc(tuple(e["loc"]), doc)
        if e["type"] == "extra_forbidden":
            fields = model_fields_at(model, e["loc"][:-1], doc)
            msg = f"unknown key {e['loc'][-1]!r}" + (f"; valid: {', '.join(fields)}" if fields else "")
            loc = _loc(tuple(e["loc"][:-1]), doc)
        elif e["type"] == "missing":
            msg = "missing"
        else:
            msg = f"{e['msg'][:1].lower()}{e['msg'][1:]}, got {_value(e.get('input'))}"
        more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
        raise error(f"{where}: {loc + ': ' if loc else ''}{msg}{more}") from None


def model_fields_at(model: type[BaseModel], loc: tuple, doc: Any) -> list[str]:
    """The field names of the (nested) schema at ``loc`` (for "valid: ..." in an error)."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(cur, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        for cand in getattr(ann, "__args__", ()) + (ann,):
            inner = getattr(cand, "__args__", ())
            for c in inner + (cand,):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    cur = c
                    break
            else:
                continue
            break
    return sorted(getattr(cur, "model_fields", {}))


__all__ = ["NativeModel", "NativeNode", "NativeQuantParams", "Report", "Design", "Port", "Vectors",
           "HlsManifest", "HlsPort",
           "ResultsHeader", "validate"]
