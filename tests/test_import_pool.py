"""Averages and data movement of quantized tensors (issue 17.4): AveragePool, GlobalAveragePool,
ReduceMean over the spatial axes, com.microsoft QLinearAveragePool / QLinearGlobalAveragePool,
Transpose, Pad, Squeeze and Unsqueeze in models quantized by onnxruntime's ``quantize_static``
(QDQ and QOperator, uint8 and int8 activations), made here from float models.

The oracle is onnxruntime itself with default session options (it fuses the QDQ groups into its
QLinear kernels): ``qhw predict`` through the CLI must give its output on every value. The inputs
are adversarial as well as random: windows of codes whose average lies exactly on a rounding tie
(2x2 windows of a shared input/output scale, zero points odd and even), lopsided windows of the
same sums (where onnxruntime's float32 sum order could decide the rounding), and windows of
nothing but the smallest or largest code. One small design (pad, transpose, window sum,
requantize, flatten) is compiled and simulated in RTL (Verilator) and HLS (g++) against golden.
"""
from __future__ import annotations


import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from qhw.cli import cli  # noqa: E402
from qhw.errors import ModelError  # noqa: E402
from qhw.frontends.onnx_qdq import import_qdq  # noqa: E402
from onnx_helpers import calibration_reader, assert_simulates, ort_run as _ort, predict_onnx_layout as _predict, output_lsb as _output_lsb  # noqa: E402

RNG_SEED = 17


# ---------------------------------------------------------------------- models
def _graph(nodes, x_shape, y_shape, arrs, name):
    inits = [nh.from_array(np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v), k)
             for k, v in arrs.items()]
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", TP.FLOAT, [None, *x_shape])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def _pool_only(kernel, stride, pads):
    """x -> Transpose (H, W swapped) -> AveragePool: the pool reads the input quantizer's codes
    (quantized with ForceQuantizeNoInputCheck: a pool or Transpose on the bare model input is
    otherwise left in float), so a test chooses every window's codes."""
    attrs = {"kernel_shape": kernel, "strides": stride}
    if any(pads):
        attrs.update(pads=pads, count_include_pad=1)
    return _graph([h.make_node("Transpose", ["x"], ["xt"], name="swap", perm=[0, 1, 3, 2]),
                   h.make_node("AveragePool", ["xt"], ["y"], name="pool", **attrs)], (2, 8, 8), None, {},
                  "pool_only")


def _conv_then(tail: str):
    rng = np.random.default_rng(RNG_SEED)
    arrs = {"w": rng.normal(size=(4, 3, 3, 3)) * 0.4, "b": rng.normal(size=4) * 0.1}
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    if tail == "gap":
        nodes.append(h.make_node("GlobalAveragePool", ["c"], ["y"], name="gap"))
    elif tail == "reducemean":  # ReduceMean stays float: a Gemm after it puts it between DQ and Q
        arrs.update(w2=rng.normal(size=(4, 3)) * 0.5, b2=rng.normal(size=3) * 0.1)
        nodes += [h.make_node("ReduceMean", ["c"], ["m"], name="mean", axes=[2, 3], keepdims=0),
                  h.make_node("Gemm", ["m", "w2", "b2"], ["y"], name="fc")]
    elif tail == "squeeze":  # GAP -> Squeeze -> Unsqueeze -> 1x1 Conv -> Flatten
        arrs.update(axes=np.array([2, 3], np.int64), w2=rng.normal(size=(3, 4, 1, 1)) * 0.5,
                    b2=rng.normal(size=3) * 0.1)
        nodes += [h.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
                  h.make_node("Squeeze", ["g", "axes"], ["s"], name="squeeze"),
                  h.make_node("Unsqueeze", ["s", "axes"], ["u"], name="unsqueeze"),
                  h.make_node("Conv", ["u", "w2", "b2"], ["c2"], name="conv2"),
                  h.make_node("Flatten", ["c2"], ["y"], name="flat")]
    elif tail == "move":  # Pad -> Transpose to NHWC -> Flatten -> Gemm
        arrs.update(pads=np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64),
                    w2=rng.normal(size=(7 * 8 * 4, 3)) * 0.1, b2=rng.normal(size=3) * 0.1)
        nodes += [h.make_node("Pad", ["c", "pads"], ["p"], name="pad"),
                  h.make_node("Transpose", ["p"], ["t"], name="nhwc", perm=[0, 2, 3, 1]),
                  h.make_node("Flatten", ["t"], ["f"], name="flat"),
                  h.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc")]
    elif tail == "transpose":  # the transposed tensor is the output
        nodes.append(h.make_node("Transpose", ["c"], ["y"], name="chw", perm=[0, 3, 1, 2]))
    return _graph(nodes, (3, 6, 6), None, arrs, f"conv_{tail}")



_QUANTIZED: dict = {}


def _quantize(tmp_path_factory, key, make, shape, fmt, act):
    """The model quantized by onnxruntime (cached per session: built once per case)."""
    if (key, fmt, act) not in _QUANTIZED:
        d = tmp_path_factory.mktemp(f"{key}_{fmt}_{act}")
        onnx.save(make(), d / "f.onnx")
        quantization.quantize_static(
            str(d / "f.onnx"), str(d / "q.onnx"), calibration_reader(shape, 16), quant_format=getattr(quantization.QuantFormat, fmt),
            activation_type=getattr(quantization.QuantType, act), weight_type=quantization.QuantType.QInt8,
            extra_options={"ForceQuantizeNoInputCheck": True})
        _QUANTIZED[(key, fmt, act)] = d / "q.onnx"
    return _QUANTIZED[(key, fmt, act)]


def _agreement(path, x, tmp_path):
    """(outputs compared, outputs differing, largest difference in output LSBs)."""
    ref = _ort(path, x)
    y = _predict(path, x, tmp_path).reshape(ref.shape)
    lsb = _output_lsb(path)
    off = np.abs(y.astype(np.float64) - ref.astype(np.float64)) / lsb
    return ref.size, int(np.count_nonzero(off > 0.5)), float(off.max())


# ---------------------------------------------------------------------- adversarial windows
def _input_codes(path):
    """(scale, zero point, qmin, qmax) of the model's input quantizer (QOperator: after the
    Transpose, which stays float and runs on the host)."""
    m = onnx.load(path)
    init = {t.name: nh.to_array(t) for t in m.graph.initializer}
    q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear")
    s, z = float(init[q.input[1]]), init[q.input[2]]
    info = np.iinfo(z.dtype)
    return s, int(z), int(info.min), int(info.max)


def _tie_windows(path, n_windows):
    """Inputs (ONNX layout, 2 channels of 8x8, 2x2 windows) whose codes make every window sum S
    with S/4 on a half code (ties when the output scale is the input's), each sum both evenly
    spread and lopsided, plus all-minimum and all-maximum windows; real values that quantize
    back to exactly these codes."""
    s, z, qmin, qmax = _input_codes(path)
    lo, hi = qmin - z, qmax - z
    rng = np.random.default_rng(RNG_SEED)
    wins = []
    for S in range(4 * lo + 2, 4 * hi, 4):  # S = 2 mod 4: S / 4 = k + 1/2
        base = S // 4
        wins.append([base, base + 1, base, base + 1 + (S - 4 * base - 2)])
        a = min(hi, S - 3 * lo)
        b = min(hi, S - a - 2 * lo)
        c = min(hi, S - a - b - lo)
        wins.append(sorted([a, b, c, S - a - b - c], reverse=bool(rng.integers(2))))
    wins += [[lo] * 4, [hi] * 4, [lo, hi, lo, hi], [0] * 4]
    wins = np.array(wins[:n_windows], np.int64)
    return _windows_to_x(path, np.concatenate([wins, rng.integers(lo, hi + 1, size=(-len(wins) % 32, 4))]))


def _windows_to_x(path, wins):
    """Real inputs whose 2x2 pool windows hold the zero-point-free codes ``wins`` (#, 4), in
    the order the pool reads them (row by row), padded to whole images with code 0."""
    s, z, qmin, qmax = _input_codes(path)
    wins = np.concatenate([wins, np.zeros((-len(wins) % 32, 4), np.int64)])
    # (img, ch, 4 x 4 windows, 2 x 2 taps) -> (img, ch, 8, 8)
    x = wins.reshape(-1, 2, 4, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 2, 8, 8)
    x = x.transpose(0, 1, 3, 2)  # the model swaps H and W back before the pool
    real = (x * np.float32(s)).astype(np.float32)
    assert np.all(np.clip(np.rint(real / np.float32(s)), qmin - z, qmax - z) == x)
    return real


def _windows_of(path, x):
    """The zero-point-free codes of every 2x2 window the model's pool reads, in output order."""
    s, z, qmin, qmax = _input_codes(path)
    q = np.clip(np.rint(x.astype(np.float32) / np.float32(s)) + z, qmin, qmax).astype(np.int64) - z
    q = q.transpose(0, 1, 3, 2)  # the model's swap
    n, c, hh, ww = q.shape
    return q.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
def test_2x2_average_at_ties_equals_onnxruntime(tmp_path_factory, tmp_path, fmt, act):
    """2x2 windows (N = 4: exact ties whenever the output scale is the input's, as in QDQ).
    onnxruntime sums float32 dequantized values, so two windows of the same code sum can round
    to different codes; qhw reproduces that float32 sum (qhw.ops.fsum_pool) where onnxruntime's
    output is no function of the integer sum. No output may differ: windows built to sit on
    ties (evenly spread and lopsided, every sum), the limit codes, and random inputs."""
    path = _quantize(tmp_path_factory, "pool2", lambda: _pool_only([2, 2], [2, 2], [0, 0, 0, 0]),
                     (2, 8, 8), fmt, act)
    x = _tie_windows(path, 600)
    n, differ, worst = _agreement(path, x, tmp_path)
    assert differ == 0, (n, differ, worst)
    r = np.random.default_rng(1).normal(size=(400, 2, 8, 8)).astype(np.float32) * 2.0
    n, differ, worst = _agreement(path, r, tmp_path)
    assert differ == 0, (n, differ, worst)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
def test_3x3_padded_average_equals_onnxruntime_at_limits(tmp_path_factory, tmp_path, fmt, act):
    """3x3 windows, stride 1, zero padding counted (N = 9: S / 9 is never a half code): exact on
    every output, windows of all-minimum / all-maximum codes and saturating inputs included."""
    path = _quantize(tmp_path_factory, "pool3", lambda: _pool_only([3, 3], [1, 1], [1, 1, 1, 1]),
                     (2, 8, 8), fmt, act)
    s, z, qmin, qmax = _input_codes(path)
    rng = np.random.default_rng(5)
    x = np.concatenate([_tie_windows(path, 600), rng.normal(size=(64, 2, 8, 8)).astype(np.float32) * 2.0,
                        np.full((1, 2, 8, 8), (qmin - z) * s, np.float32),
                        np.full((1, 2, 8, 8), (qmax - z) * s, np.float32),
                        rng.normal(size=(8, 2, 8, 8)).astype(np.float32) * 1e3])
    n, differ, worst = _agreement(path, x, tmp_path)
    assert differ == 0, (n, differ, worst)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("tail,act", [("gap", "QUInt8"), ("gap", "QInt8"), ("reducemean", "QUInt8"),
                                      ("reducemean", "QInt8"), ("squeeze", "QInt8"), ("move", "QUInt8"),
                                      ("transpose", "QInt8")])
def test_conv_tails_equal_onnxruntime(tmp_path_factory, tmp_path, fmt, act, tail):
    path = _quantize(tmp_path_factory, tail, lambda: _conv_then(tail), (3, 6, 6), fmt, act)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    if tail == "reducemean":
        assert "ReduceMean" in ops  # left in float by the quantizer, between DQ and Q
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(size=(300, 3, 6, 6)) * 1.5,          # in range
                        rng.normal(size=(60, 3, 6, 6)) * 40.0,          # saturating
                        np.full((2, 3, 6, 6), 1e3), np.full((2, 3, 6, 6), -1e3)]).astype(np.float32)
    n, differ, worst = _agreement(path, x, tmp_path)
    assert differ == 0, (n, differ, worst)


def test_mapping_report_says_how_the_average_is_computed(tmp_path_factory):
    path = _quantize(tmp_path_factory, "gap", lambda: _conv_then("gap"), (3, 6, 6), "QOperator", "QUInt8")
    r = CliRunner().invoke(cli, ["inspect", str(path)])
    assert r.exit_code == 0, r.output
    assert "QLinearGlobalAveragePool" in r.output
    assert "reachable sums" in r.output and "producer runtime's own code" in r.output


def test_a_tie_band_that_no_requantizer_fits_becomes_a_table():
    """The lowering's own choice, checked against a target written here: the output code of a
    window sum rounded half to odd (what onnxruntime's rint(x + z) does at exact ties for an
    odd zero point) is no single requantizer; it becomes a table of the sums."""
    from qhw import golden
    from qhw.graph import GraphBuilder as AffineBuilder
    from qhw.passes.lower_affine import AffineGraph, lower_affine
    from qhw.quant import QuantParams

    qp = QuantParams(0.05, 3, 8, True)
    b = AffineBuilder("tie")
    x = b.input("x", (4, 4, 1), "ap_int<8>")
    sums = np.arange(4 * -131, 4 * 124 + 1)
    half_odd = np.where((2 * sums) % 8 == 4, 2 * np.floor(sums / 8) + 1, np.rint(sums / 4))
    rows = np.stack([sums, np.clip(half_odd + 3, -128, 127), np.zeros_like(sums)], axis=1)
    p = b.node("pool", "avgpool2d", [x], {"kernel_size": [2, 2]}, {"sum_codes": rows})
    b.output("y", p)
    g = b.graph
    g.node("x").qparams = qp
    g.node("pool").qparams = qp
    low = lower_affine(AffineGraph(g))
    assert any(n.op == "code_table" for n in low.nodes())
    codes = np.random.default_rng(3).integers(-131, 125, size=(200, 4, 4, 1))
    out = golden.run_raw(low, codes).outputs["y"]
    S = codes.reshape(200, 2, 2, 2, 2, 1).sum(axis=(2, 4))
    want = np.clip(np.where((2 * S) % 8 == 4, 2 * np.floor(S / 8) + 1, np.rint(S / 4)), -128 - 3, 127 - 3)
    assert np.array_equal(out.reshape(want.shape), want)


def test_unsupported_forms_name_the_node(tmp_path_factory, tmp_path):
    path = _quantize(tmp_path_factory, "reducemean", lambda: _conv_then("reducemean"), (3, 6, 6), "QDQ", "QUInt8")
    m = onnx.load(path)
    for n in m.graph.node:
        if n.op_type == "ReduceMean":
            for a in n.attribute:
                if a.name == "axes":
                    a.ints[:] = [1, 2, 3]
    with pytest.raises(ModelError, match="mean.*spatial"):
        import_qdq(m)


# ---------------------------------------------------------------------- hardware
@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """One small design: input -> Pad -> AveragePool 2x2 -> Transpose -> Flatten -> Gemm, QDQ
    int8; compiled once for both backends."""
    rng = np.random.default_rng(RNG_SEED)
    arrs = {"pads": np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64),
            "w": rng.normal(size=(2 * 3 * 2, 3)) * 0.4, "b": rng.normal(size=3) * 0.1}
    nodes = [h.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             h.make_node("AveragePool", ["p"], ["a"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Transpose", ["a"], ["t"], name="nhwc", perm=[0, 2, 3, 1]),
             h.make_node("Flatten", ["t"], ["f"], name="flat"),
             h.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc")]
    path = _quantize(tmp_path_factory, "hw", lambda: _graph(nodes, (2, 4, 4), None, arrs, "hw"), (2, 4, 4),
                     "QDQ", "QInt8")
    graph, _ = import_qdq(path)
    ops = {n.op for n in graph.nodes()}
    assert {"pad", "transpose", "requantize"} <= ops and ops & {"avgpool2d", "fsum_pool2d"}, ops
    out = tmp_path_factory.mktemp("hw_out") / "design"
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out), "--vectors", "200"])
    assert r.exit_code == 0, r.output
    return path, out


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_pool_and_movement_design_simulates_equal_to_golden(compiled, backend):
    _, out = compiled
    assert_simulates(out, backend)


def test_pool_and_movement_design_predicts_onnxruntime(compiled, tmp_path):
    path, _ = compiled
    x = np.random.default_rng(4).normal(size=(500, 2, 4, 4)).astype(np.float32) * 1.5
    n, differ, worst = _agreement(path, x, tmp_path)
    assert differ == 0, (n, differ, worst)


def _qdq_equal_scales(kind, z, dtype):
    """x -> QuantizeLinear -> DequantizeLinear -> GlobalAveragePool / ReduceMean (H, W) /
    AveragePool 2x2 -> QuantizeLinear -> DequantizeLinear, one scale throughout: windows sit on
    ties that onnxruntime's float32 sum decides."""
    arrs = {"s": np.float32(0.0371), "z": np.asarray(z, dtype), "axes": np.array([2, 3], np.int64)}
    pool = {"gap": h.make_node("GlobalAveragePool", ["d"], ["p"], "pool"),
            "mean": h.make_node("ReduceMean", ["d", "axes"], ["p"], "pool", keepdims=0),
            "avg2": h.make_node("AveragePool", ["d"], ["p"], "pool", kernel_shape=[2, 2], strides=[2, 2])}[kind]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], "qin"),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], "dqin"), pool,
             h.make_node("QuantizeLinear", ["p", "s", "z"], ["qo"], "qout"),
             h.make_node("DequantizeLinear", ["qo", "s", "z"], ["y"], "dqout")]
    g = h.make_graph(nodes, "qdq_equal", [h.make_tensor_value_info("x", TP.FLOAT, [None, 3, 4, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], [nh.from_array(v, k) for k, v in arrs.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 18)])


@pytest.mark.parametrize("kind", ["gap", "mean", "avg2"])
@pytest.mark.parametrize("dtype,z", [(np.uint8, 128), (np.int8, 0), (np.int8, 3)])
def test_qdq_equal_scale_averages_equal_onnxruntime(tmp_path, kind, dtype, z):
    """A QDQ average whose input and output scales are equal, inputs of codes one apart (ties
    everywhere): qhw predict through the CLI == onnxruntime on every output (its ReduceMean adds
    in eight lanes, its 2x2 pool row by row: reproduced in float32; its global QLinear average is
    an integer sum: the exact integer form stays)."""
    onnx.save(onnx.shape_inference.infer_shapes(_qdq_equal_scales(kind, z, dtype)), tmp_path / "m.onnx")
    info = np.iinfo(dtype)
    rng = np.random.default_rng(12)
    codes = rng.integers(info.min - z, info.max - z, size=(300, 3, 4, 4)) + rng.integers(0, 2, size=(300, 3, 4, 4))
    x = (codes * np.float32(0.0371)).astype(np.float32)
    n, differ, worst = _agreement(tmp_path / "m.onnx", x, tmp_path)
    assert differ == 0, (n, differ, worst)


# ---------------------------------------------------------------------- QONNX
def _qonnx_pool(kind, s_in, s_out, z=0):
    """x -> Quant (int8) -> AveragePool / GlobalAveragePool -> Quant (int8), as Brevitas exports
    a pool between quantized activations."""
    dom = "qonnx.custom_op.general"
    arrs = {"s1": s_in, "z1": z, "b": 8, "s2": s_out, "z2": z}
    pool = {"avg3": h.make_node("AveragePool", ["q"], ["a"], "pool", kernel_shape=[3, 3], strides=[1, 1],
                                pads=[1, 1, 1, 1], count_include_pad=1),
            "avg2": h.make_node("AveragePool", ["q"], ["a"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
            "gap": h.make_node("GlobalAveragePool", ["q"], ["a"], "pool")}[kind]
    nodes = [h.make_node("Quant", ["x", "s1", "z1", "b"], ["q"], "qin", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND"), pool,
             h.make_node("Quant", ["a", "s2", "z2", "b"], ["y"], "qout", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND")]
    hw = 4 if kind == "gap" else 8  # a global average probes every sum of hw * hw codes
    g = h.make_graph(nodes, "qonnx_pool", [h.make_tensor_value_info("x", TP.FLOAT, [1, 2, hw, hw])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)],
                     [nh.from_array(np.array(v, np.float32), k) for k, v in arrs.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(dom, 1)])


@pytest.mark.parametrize("kind,s_in,s_out,z,ties", [("avg3", 0.0427, 0.0133, 0, False), ("avg3", 0.05, 0.05, 3, False),
                                                    ("gap", 0.0427, 0.0133, 0, False),
                                                    ("avg2", 0.0427, 0.0133, 0, True),
                                                    ("avg2", 0.0371, 0.0371, 0, True),
                                                    ("avg2", 0.05, 0.05, 3, True),
                                                    ("gap", 0.0371, 0.0371, 0, True)])
def test_qonnx_average_equals_qonnx_execution(tmp_path, kind, s_in, s_out, z, ties):
    """qhw predict through the CLI == qonnx's execute_onnx on every output, windows of the limit
    codes too. qonnx pools float32 values in onnxruntime's float AveragePool and rounds in its
    Quant: with equal input and output scales 2x2 windows and global averages often sit on a
    tie that the float32 sum decides (``ties``: half the inputs are codes one apart, which makes
    such windows common); qhw reproduces that sum (qhw.ops.fsum_pool)."""
    qonnx_exec = pytest.importorskip("qonnx.core.onnx_exec")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    m = _qonnx_pool(kind, s_in, s_out, z)
    onnx.save(m, tmp_path / "m.onnx")
    rng = np.random.default_rng(7)
    hw = 4 if kind == "gap" else 8
    codes = np.concatenate([rng.integers(-128, 128, size=(60, 2, hw, hw)), np.full((1, 2, hw, hw), -128),
                            np.full((1, 2, hw, hw), 127)])
    if ties:
        codes[:30] = rng.integers(-128, 127, size=(30, 2, hw, hw)) + rng.integers(0, 2, size=(30, 2, hw, hw))
    x = ((codes - z) * np.float32(s_in)).astype(np.float32)
    mw = ModelWrapper(m).transform(InferShapes())
    ref = np.concatenate([qonnx_exec.execute_onnx(mw, {"x": x[i:i + 1]})["y"] for i in range(len(x))])
    y = _predict(tmp_path / "m.onnx", x, tmp_path).reshape(ref.shape)
    differ = np.count_nonzero(np.abs(y.astype(np.float64) - ref) / s_out > 0.5)
    assert differ == 0, (ref.size, differ)


def test_qonnx_equal_scale_averages_use_the_float32_sum():
    """With equal input and output scales the integer window sum is no function of qonnx's
    output (the reason for the op): the import must take the float32 form, and say so."""
    from qhw.frontends.qonnx import import_qonnx

    for kind in ("avg2", "gap"):
        graph, rep = import_qonnx(_qonnx_pool(kind, 0.0371, 0.0371))
        ops = [n.op for n in graph.nodes()]
        assert "fsum_pool2d" in ops and "avgpool2d" not in ops, (kind, ops)
        assert any("float32 window sum reproduced" in r.what for r in rep.rows), str(rep)


@pytest.fixture(scope="module")
def compiled_float32(tmp_path_factory):
    """A QONNX net of both float32 forms (2x2 average, then a global average, equal scales),
    compiled once through the CLI for both backends."""
    dom = "qonnx.custom_op.general"
    arrs = {"s": 0.0371, "z": 0, "b": 8}
    nodes = [h.make_node("Quant", ["x", "s", "z", "b"], ["q"], "qin", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND"),
             h.make_node("AveragePool", ["q"], ["a"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Quant", ["a", "s", "z", "b"], ["qa"], "qmid", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND"),
             h.make_node("GlobalAveragePool", ["qa"], ["g"], "gap"),
             h.make_node("Quant", ["g", "s", "z", "b"], ["y"], "qout", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND")]
    g = h.make_graph(nodes, "qonnx_fsum", [h.make_tensor_value_info("x", TP.FLOAT, [1, 3, 8, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)],
                     [nh.from_array(np.array(v, np.float32), k) for k, v in arrs.items()])
    d = tmp_path_factory.mktemp("fsum")
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(dom, 1)]), d / "m.onnx")
    out = d / "design"
    r = CliRunner().invoke(cli, ["compile", str(d / "m.onnx"), "-o", str(out), "--vectors", "200"])
    assert r.exit_code == 0, r.output
    return d / "m.onnx", out


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_float32_average_design_simulates_equal_to_golden(compiled_float32, backend):
    path, out = compiled_float32
    assert "fsum_pool2d" in (out / "model.yaml").read_text()
    assert_simulates(out, backend)


def test_float32_average_design_predicts_qonnx(compiled_float32, tmp_path):
    """The two-pool net through the CLI == qonnx's execute_onnx, inputs of codes one apart."""
    qonnx_exec = pytest.importorskip("qonnx.core.onnx_exec")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    path, _ = compiled_float32
    rng = np.random.default_rng(8)
    codes = rng.integers(-128, 127, size=(80, 3, 8, 8)) + rng.integers(0, 2, size=(80, 3, 8, 8))
    x = (codes * np.float32(0.0371)).astype(np.float32)
    mw = ModelWrapper(onnx.load(path)).transform(InferShapes())
    ref = np.concatenate([qonnx_exec.execute_onnx(mw, {"x": x[i:i + 1]})["y"] for i in range(len(x))])
    y = _predict(path, x, tmp_path).reshape(ref.shape)
    assert np.count_nonzero(np.abs(y.astype(np.float64) - ref) / 0.0371 > 0.5) == 0


# ---------------------------------------------------------------------- bad inputs
def test_probe_beyond_its_limit_is_one_clear_error(tmp_path_factory, tmp_path):
    """A global average over a large image would need a large probe: refused by name before the
    memory is spent (the real CLI, memory and time capped)."""
    from bad_input_harness import assert_error, run_qhw, unchanged

    path = _quantize(tmp_path_factory, "gap", lambda: _conv_then("gap"), (3, 6, 6), "QDQ", "QUInt8")
    with unchanged(tmp_path):
        r = run_qhw(["inspect", str(path)], cwd=tmp_path, env={"QHW_MAX_PROBE_CODES": "1000"})
    assert_error(r, "QHW_MAX_PROBE_CODES", "gap")


def test_padded_average_without_counted_padding_divides_by_position(tmp_path_factory):
    """Refused before issue 17's last round; now a divisor by position (tests/test_import_avgpool_edges.py)."""
    path = _quantize(tmp_path_factory, "pool3", lambda: _pool_only([3, 3], [1, 1], [1, 1, 1, 1]), (2, 8, 8),
                     "QOperator", "QUInt8")
    m = onnx.load(path)
    for n in m.graph.node:
        if n.op_type == "QLinearAveragePool":
            for a in n.attribute:
                if a.name == "count_include_pad":
                    a.i = 0
    assert "divisor by position: 4, 6, 9" in str(import_qdq(m)[1])
