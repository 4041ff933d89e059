"""Host-side float prefix and suffix of an imported ONNX model: finding them (see
:mod:`qhw.ops.host` for what the steps are and how they run)."""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.host import STEP_OPS, apply, check, describe  # noqa: F401 - re-exported for the importers

#: ONNX op types that run on the host (the ones :func:`onnx_step` translates)
HOST_OPS = ("Reshape", "Flatten", "Transpose", "Mul", "Div", "Add", "Sub", "Relu", "Identity",
            "Dropout", "TopK", "ArgMax", "Squeeze", "Unsqueeze", "ReduceMean")
#: ops only the host can do in a quantized model (a suffix starts at the first of them)
HOST_ONLY = ("Sub", "Div", "TopK", "ArgMax", "ReduceMean")
#: float arithmetic that runs on the host when it follows the last dequantizer (nothing
#: quantizes its result, so no integer form is needed: a TensorNorm-like affine tail, a scale on
#: the logits)
AFTER_DEQUANT = ("Mul", "Add")


# ---------------------------------------------------------------------- from ONNX
def _attr(onnx, node, key, default=None):
    for a in node.attribute:
        if a.name == key:
            return onnx.helper.get_attribute_value(a)
    return default


def _const_value(consts: dict, node, name: str):
    if name not in consts:
        raise ModelError(f"ONNX node {node.name!r} ({node.op_type}): input {name!r} must be a "
                         "constant to run on the host")
    return consts[name]


def onnx_step(onnx, node, x_name: str, consts: dict, shape: tuple[int, ...]) -> list[dict] | None:
    """The host steps of one ONNX node reading ``x_name`` (a tensor of per-sample ``shape`` in
    ONNX layout), or None when the node cannot run on the host."""
    op = node.op_type
    others = [i for i in node.input if i and i != x_name]
    if op in ("Identity", "Dropout"):
        return []
    if op == "Relu":
        return [{"op": "relu"}]
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        n = 1 if op == "Flatten" and _attr(onnx, node, "axis", 1) == 1 else None
        if op == "Flatten":
            if n is None:
                return None
            return [{"op": "reshape", "shape": [int(np.prod(shape))]}]
        if op == "Reshape":
            target = [int(d) for d in np.asarray(_const_value(consts, node, node.input[1])).ravel()]
            per = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target[1:])]
            if len(target) < 2 or per.count(-1) > 1 or any(d == 0 or d < -1 for d in per):
                return None
            if -1 in per:
                rest = int(np.prod([d for d in per if d != -1]))
                if rest == 0 or int(np.prod(shape)) % rest:
                    return None
                per[per.index(-1)] = int(np.prod(shape)) // rest
            return [{"op": "reshape", "shape": per}] if int(np.prod(per)) == int(np.prod(shape)) else None
        # Squeeze/Unsqueeze: axes from the attribute (opset < 13) or the second input
        axes = _attr(onnx, node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = np.asarray(_const_value(consts, node, node.input[1])).ravel().tolist()
        probe = np.empty((1, *shape), np.float32)
        try:
            probe = np.squeeze(probe, tuple(axes)) if op == "Squeeze" and axes is not None else \
                np.squeeze(probe, tuple(range(1, probe.ndim))) if op == "Squeeze" else \
                np.expand_dims(probe, tuple(axes))
        except (ValueError, TypeError, np.exceptions.AxisError):
            return None
        if probe.ndim == 0 or probe.shape[0] != 1:
            return None
        return [{"op": "reshape", "shape": list(probe.shape[1:])}]
    if op == "Transpose":
        perm = _attr(onnx, node, "perm")
        perm = list(perm) if perm is not None else list(range(len(shape), -1, -1))
        if not perm or perm[0] != 0:
            return None  # moves the batch axis
        return [{"op": "transpose", "perm": [p - 1 for p in perm[1:]]}]
    if op in ("Mul", "Div", "Add", "Sub"):
        if len(others) != 1 or others[0] not in consts:
            return None
        c = np.asarray(consts[others[0]], np.float32)
        if c.ndim > len(shape) + 1 or (c.ndim == len(shape) + 1 and c.shape[0] != 1):
            return None
        try:
            np.broadcast_shapes(c.shape, (1, *shape))
            if np.broadcast_shapes(c.shape, (1, *shape)) != (1, *shape):
                return None
        except ValueError:
            return None
        return [{"op": op.lower(), "value": [float(v) for v in c.ravel()], "shape": list(c.shape),
                 "reverse": node.input[0] != x_name}]
    if op == "ReduceMean":
        axes = _attr(onnx, node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = np.asarray(_const_value(consts, node, node.input[1])).ravel().tolist()
        rank = len(shape) + 1
        if not axes:
            return None  # every axis, the batch axis too (or none, with noop_with_empty_axes)
        axes = sorted({int(a) % rank for a in axes})
        if axes[0] == 0 or any(not -rank <= int(a) < rank for a in axes):
            return None
        return [{"op": "mean", "axes": [a - 1 for a in axes], "keepdims": int(_attr(onnx, node, "keepdims", 1))}]
    if op in ("TopK", "ArgMax"):
        axis = int(_attr(onnx, node, "axis", -1 if op == "TopK" else 0))
        axis = axis % (len(shape) + 1)
        if axis == 0:
            return None
        if op == "TopK":
            k = np.asarray(_const_value(consts, node, node.input[1])).ravel()
            if k.size != 1 or int(k[0]) != 1 or not _attr(onnx, node, "largest", 1):
                return None
            return [{"op": "argmax", "axis": axis, "keepdims": 1}]
        if _attr(onnx, node, "select_last_index", 0):
            return None
        return [{"op": "argmax", "axis": axis, "keepdims": int(_attr(onnx, node, "keepdims", 1))}]
    return None


def _shape_after(steps, shape):
    probe = apply(steps, np.zeros((1, *shape), np.float32))
    return tuple(probe.shape[1:])


def _pow2_scale(node, consts: dict) -> bool:
    """A Mul by one positive power of two (a QONNX importer relabels the codes: a shift)."""
    c = [np.asarray(consts[i], np.float64) for i in node.input if i in consts]
    if node.op_type != "Mul" or len(c) != 1 or c[0].size != 1 or not float(c[0].ravel()[0]) > 0:
        return False
    return float(np.log2(float(c[0].ravel()[0]))).is_integer()


def split_host(model, quantizers: tuple[str, ...], dequantizers: tuple[str, ...] = (),
               shifts: bool = False):
    """Move the float prefix (every input up to its first quantizer) and the float suffix (from
    the first host-only op before an output, or from the first constant Mul/Add when the chain
    starts at a ``dequantizers`` node's output: nothing quantizes that arithmetic) of an ONNX
    model to the host. ``shifts``: the importer maps a Mul by a positive power of two on a
    quantized tensor itself (a relabelling), so a chain of only those stays in hardware.

    Returns (model, prefixes, suffixes): a new ModelProto whose inputs are the first quantizer's
    inputs and whose outputs are the last hardware tensors, keeping the original names;
    prefixes: input name -> {"shape", "steps", "onnx": [node names]} in ONNX layout (the
    channels-last transposes are added by :func:`finish`); suffixes: output name -> the same
    without "shape". Nothing changes when there is nothing to move."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    readers: dict[str, list] = {}
    for node in g.node:
        for i in node.input:
            readers.setdefault(i, []).append(node)
    producer = {o: node for node in g.node for o in node.output}
    outputs = {o.name for o in g.output}
    removed: set[int] = set()
    prefixes: dict[str, dict] = {}
    for inp in g.input:
        if inp.name in consts:
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim][1:]
        if not dims or any(d <= 0 for d in dims):
            continue
        cur, shape, steps, names = inp.name, tuple(dims), [], []
        while True:
            rs = readers.get(cur, [])
            if len(rs) != 1 or cur in outputs or rs[0].op_type in quantizers:
                break
            node = rs[0]
            if node.op_type == "Relu":  # the importer absorbs it into an unsigned quantizer
                break
            st = onnx_step(onnx, node, cur, consts, shape)
            if st is None or any(s["op"] == "argmax" for s in st):
                break
            steps += st
            names.append(node.name or node.op_type)
            removed.add(id(node))
            cur = node.output[0]
            shape = _shape_after(st, shape)
        if names and len(readers.get(cur, [])) == 1 and readers[cur][0].op_type in quantizers:
            prefixes[inp.name] = {"cur": cur, "shape": list(dims), "hw_shape": list(shape),
                                  "steps": steps, "onnx": names}
        else:
            removed -= {id(n) for n in g.node if (n.name or n.op_type) in names}
    suffixes: dict[str, dict] = {}
    for out in g.output:
        chain, cur = [], out.name
        while cur in producer:
            node = producer[cur]
            x = [i for i in node.input if i and i not in consts]
            if node.op_type not in HOST_OPS or len(x) != 1 or len(readers.get(x[0], [])) != 1 \
                    or x[0] in outputs or id(node) in removed:
                break
            chain.insert(0, (node, x[0]))
            cur = x[0]
        start = next((i for i, (n, _) in enumerate(chain) if n.op_type in HOST_ONLY), None)
        first = producer.get(chain[0][1]) if chain else None
        if first is not None and first.op_type in dequantizers:
            arith = [i for i, (n, _) in enumerate(chain) if n.op_type in AFTER_DEQUANT
                     and (start is None or i < start)]
            if arith and (start is not None or not shifts
                          or not all(_pow2_scale(chain[i][0], consts) for i in arith)):
                start = arith[0]
        if start is None:
            continue
        chain = chain[start:]
        suffixes[out.name] = {"cur": chain[0][1], "chain": chain}
    if not prefixes and not suffixes:
        return model, {}, {}
    # shapes of the suffix chains' inputs: onnx shape inference (the importer needs none)
    shapes = {}
    if suffixes:
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
                dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
                if dims and all(d > 0 for d in dims[1:]):
                    shapes[vi.name] = tuple(dims[1:])
        except Exception:  # noqa: BLE001 - custom ops may stop onnx's inference; shapes then unknown
            pass
    for name, suf in list(suffixes.items()):
        shape = shapes.get(suf["cur"])
        if shape is None:
            del suffixes[name]
            continue
        steps = []
        for node, x in suf["chain"]:
            st = onnx_step(onnx, node, x, consts, shape)
            if st is None:
                raise ModelError(f"ONNX node {node.name!r} ({node.op_type}) after the last quantized "
                                 "tensor cannot run on the host (a constant operand, k=1, no batch-axis moves, "
                                 "ReduceMean over axes other than the batch axis)")
            steps += st
            shape = _shape_after(st, shape) if not any(s["op"] == "argmax" for s in st) else shape
            removed.add(id(node))
        suf["steps"], suf["onnx"] = steps, [n.name or n.op_type for n, _ in suf["chain"]]
        suf["hw_shape"] = list(shapes[suf["cur"]])
    new = onnx.ModelProto()
    new.CopyFrom(model)
    ng = new.graph
    keep = [n for n in g.node if id(n) not in removed]
    rename = {p["cur"]: name for name, p in prefixes.items()}
    rename.update({s["cur"]: name for name, s in suffixes.items()})
    del ng.node[:]
    for n in keep:
        m = ng.node.add()
        m.CopyFrom(n)
        for i, v in enumerate(m.input):
            if v in rename:
                m.input[i] = rename[v]
        for i, v in enumerate(m.output):
            if v in rename:
                m.output[i] = rename[v]
    for vi in list(ng.value_info):
        if vi.name in rename or vi.name in rename.values():
            ng.value_info.remove(vi)
    for inp in ng.input:
        if inp.name in prefixes:
            dims = inp.type.tensor_type.shape.dim
            first = dims[0]
            keep_first = (first.dim_param, first.dim_value)
            del dims[:]
            d = dims.add()
            if keep_first[0]:
                d.dim_param = keep_first[0]
            else:
                d.dim_value = keep_first[1] or 1
            for v in prefixes[inp.name]["hw_shape"]:
                dims.add().dim_value = v
    for out in ng.output:
        if out.name in suffixes:
            out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
            del out.type.tensor_type.shape.dim[:]
    return new, prefixes, suffixes


def _to_onnx_layout(rank: int) -> list[int]:
    """perm taking a channels-last sample (H, W, C) to ONNX's (C, H, W)."""
    return [rank - 1] + list(range(rank - 1))


def finish(graph, prefixes: dict, suffixes: dict, report=None, tensors: dict | None = None) -> None:
    """Attach the host steps to the qhw input/output nodes (channels-last transposes added) and
    say in the report where the hardware boundary is. ``tensors``: the importer's ONNX value ->
    tensor map (its layout: a channels-first feature map is channels-last in qhw, so a suffix
    of rank >= 3 transposes it back to the ONNX layout first and its result to channels-last)."""
    from qhw.frontends.onnx_float import _ident

    for onnx_name, p in prefixes.items():
        node = _find(graph, "input", onnx_name, _ident)
        user = list(p["shape"])
        steps = []
        if len(user) > 1:
            steps.append({"op": "transpose", "perm": _to_onnx_layout(len(user))})
            user = user[1:] + user[:1]
        steps += p["steps"]
        hw = p["hw_shape"]
        if len(hw) > 1:
            steps.append({"op": "transpose", "perm": list(range(1, len(hw))) + [0]})
        host = {"shape": user, "steps": steps}
        check(host, f"input {node.name!r}", True)
        node.attrs["host"] = host
        if report is not None:
            report.add(", ".join(p["onnx"]), "host prefix", node.name,
                       f"on the host before the hardware input {node.name!r}: {describe(p['steps'])}")
            report.notes.append(f"hardware boundary: input {node.name!r} takes the codes of the first "
                                f"quantizer; the host runs {describe(p['steps'])} (float32) on {onnx_name!r} first")
    for onnx_name, s in suffixes.items():
        node = _find(graph, "output", onnx_name, _ident)
        t = (tensors or {}).get(onnx_name)
        hw = list(s["hw_shape"])
        if len(hw) > 1 and not getattr(t, "channels_last", False) or getattr(t, "perm", None) is not None \
                and not np.array_equal(t.perm, np.arange(len(t.perm))):
            raise ModelError(f"ONNX output {onnx_name!r}: a host suffix after a tensor of rank "
                             f"{len(hw) + 1} that qhw keeps in another element order (a flattened or "
                             "reshaped feature map) is not supported; valid: (batch, features) or a "
                             "feature map (batch, C, ...)")
        steps = list(s["steps"])
        if len(hw) > 1:
            out = _shape_after(steps, tuple(hw))
            steps.insert(0, {"op": "transpose", "perm": _to_onnx_layout(len(hw))})
            if len(out) > 1 and not any(st["op"] == "argmax" for st in steps):
                steps.append({"op": "transpose", "perm": list(range(1, len(out))) + [0]})
        host = {"steps": steps}
        check(host, f"output {node.name!r}", False)
        node.attrs["host"] = host
        if report is not None:
            report.add(", ".join(s["onnx"]), "host suffix", node.name,
                       f"on the host after the hardware output {node.name!r}: {describe(s['steps'])}")
            report.notes.append(f"hardware boundary: output {node.name!r} gives the last quantized "
                                f"tensor; the host runs {describe(s['steps'])} (float32) to make {onnx_name!r}")


def _find(graph, op, onnx_name, ident):
    names = graph.input_names if op == "input" else graph.output_names
    want = ident(onnx_name)
    for n in names:
        if n == want or (op == "output" and n == want + "_out"):
            return graph.node(n)
    if len(names) == 1:
        return graph.node(names[0])
    raise ModelError(f"ONNX {op} {onnx_name!r}: no qhw {op} node of that name")


__all__ = ["check", "apply", "split_host", "finish", "describe", "HOST_OPS", "STEP_OPS"]
