"""The hardware and hls4ml facts ops own (issue 16.1), each against an independent computation:
numpy's concatenate, clip and reshape, the real intervals of the op's float semantics, and the
hls4ml layer facts the config reader derives from them."""
from __future__ import annotations

import numpy as np
import pytest

import qhw.ops
from qhw.config.infer import HLS4ML_SLOTS
from qhw.config.schema import HLS4ML_CLASS, LAYER_TYPES
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.ops import Trait


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_concat_sources_equal_numpy_concatenate(axis):
    rng = np.random.default_rng(1)
    shapes = [(2, 3, 2), (2, 3, 1), (2, 3, 3)] if axis == -1 else \
        [(1, 3, 2), (2, 3, 2)] if axis == 0 else [(2, 1, 2), (2, 4, 2)]
    xs = [rng.integers(-99, 99, s) for s in shapes]
    b = GraphBuilder("cat")
    ins = [b.input(f"x{k}", s, "ap_fixed<8,3>") for k, s in enumerate(shapes)]
    b.output("y", b.concat("cat", ins, axis=axis))
    g = b.build()
    node = g.node("cat")
    src, idx = qhw.ops.get("concat").sources(node, [tuple(s) for s in shapes])
    want = np.concatenate(xs, axis=axis).ravel()
    np.testing.assert_array_equal([xs[k].ravel()[i] for k, i in zip(src, idx)], want)


@pytest.mark.parametrize("op,attrs", [("relu", {}), ("relu6", {}), ("clip", {"min_value": -0.3, "max_value": 1.1}),
                                      ("clip", {"min_value": None, "max_value": 0.7})])
@pytest.mark.parametrize("fmt", [FixedFormat(8, 3), FixedFormat(6, 4, False), FixedFormat(10, 2)])
def test_clamp_bounds_are_the_clip_of_every_code(op, attrs, fmt):
    b = GraphBuilder("clamp")
    b.output("y", b.unary(op, "c", b.input("x", (1,), fmt), **attrs))
    node = b.build().node("c")
    opdef = qhw.ops.get(op)
    lo, hi = opdef.bounds(node, fmt)
    codes = np.arange(fmt.raw_min, fmt.raw_max + 1)
    flo, fhi = opdef.limits(node)
    real = np.clip(fmt.to_float(codes), -np.inf if flo is None else flo, np.inf if fhi is None else fhi)
    # the clamp at codes [lo, hi] keeps exactly the codes whose value the real clip keeps
    np.testing.assert_array_equal((codes >= lo) & (codes <= hi), fmt.to_float(codes) == real)


RANGED = [n for n in qhw.ops.names() if type(qhw.ops.get(n)).output_range is not qhw.ops.OpDef.output_range]


def test_the_bounded_functions_state_their_range():
    assert set(RANGED) >= {"sigmoid", "tanh", "hard_sigmoid"}


@pytest.mark.parametrize("op", RANGED)
def test_output_range_holds_the_float_semantics(op):
    opdef = qhw.ops.get(op)
    b = GraphBuilder("rng")
    b.output("y", b.unary(op, "f", b.input("x", (64,), "ap_fixed<12,6>")))
    g = b.build()
    lo, hi = opdef.output_range(g.node("f"))
    x = np.linspace(-40, 40, 64)[None, :]
    y = opdef.float_eval(g.node("f"), [x])
    assert lo <= y.min() and y.max() <= hi
    assert y.min() < lo + 0.05 and y.max() > hi - 0.05  # the interval is tight


def test_shift_moved_format_scales_every_code_by_a_power_of_two():
    b = GraphBuilder("sh")
    b.output("y", b.shift("s", b.input("x", (1,), "ap_fixed<8,3>"), -3))
    node = b.build().node("s")
    x = FixedFormat(8, 3)
    codes = np.arange(x.raw_min, x.raw_max + 1)
    moved = qhw.ops.get("shift").moved_format(node, x)
    np.testing.assert_array_equal(moved.to_float(codes), x.to_float(codes) * 2.0 ** -3)


def test_pool_windows_equal_the_direct_window_loop():
    b = GraphBuilder("p")
    b.output("y", b.pool("maxpool2d", "mp", b.input("x", (5, 4, 2), "ap_fixed<8,3>"), kernel_size=2, stride=2,
                         padding=1))
    node = b.build().node("mp")
    x = np.arange(5 * 4 * 2).reshape(1, 5, 4, 2) + 1
    win = qhw.ops.get("maxpool2d").windows(node, x, 0)[0]  # (*out, taps, C)
    pads = node.attrs["padding"]  # (top, left, bottom, right)
    xp = np.pad(x[0], ((pads[0], pads[2]), (pads[1], pads[3]), (0, 0)))
    for i in range(win.shape[0]):
        for j in range(win.shape[1]):
            direct = xp[2 * i:2 * i + 2, 2 * j:2 * j + 2, :].reshape(4, 2)
            np.testing.assert_array_equal(win[i, j], direct)
    assert qhw.ops.get("maxpool2d").reduction == "max" and qhw.ops.get("avgpool1d").reduction == "avg"


def test_hls4ml_facts_are_consistent_with_the_config_tables():
    for op in qhw.ops.names():
        d = qhw.ops.get(op)
        assert HLS4ML_SLOTS.get(op, ()) == d.hls4ml_slots
        assert HLS4ML_CLASS.get(op) == d.hls4ml_class
        for key in d.hls4ml_names + ((d.hls4ml_class.lower(),) if d.hls4ml_class else ()):
            assert op in LAYER_TYPES[key], (op, key)
    # hls4ml's own class names (hls4ml 1.3.0 layer classes) for the ops that have one
    assert {HLS4ML_CLASS[o] for o in qhw.ops.group(Trait.MAC)} == {"Dense", "Conv1D", "Conv2D"}
    assert {HLS4ML_CLASS[o] for o in qhw.ops.group(Trait.POOL)} == {"Pooling1D", "Pooling2D"}
    assert {HLS4ML_CLASS[o] for o in qhw.ops.group(Trait.MERGE)} == {"Merge"}


@pytest.mark.parametrize("op", ["flatten", "shift", "relu"])
def test_is_identity(op):
    b = GraphBuilder("id")
    x = b.input("x", (4,), "ap_ufixed<6,2>")
    if op == "flatten":
        y = b.flatten("f", x)
    elif op == "shift":
        y = b.shift("f", x, 0)
    else:
        y = b.relu("f", x)
    b.output("y", y)
    g = b.build()
    assert qhw.ops.get(op).is_identity(g.node("f"), g.node("x"))
    assert not qhw.ops.get("clip").is_identity(
        type(g.node("f"))("c", "clip", ["x"], {"min_value": 1.0, "max_value": None}, {}, {}), g.node("x"))
