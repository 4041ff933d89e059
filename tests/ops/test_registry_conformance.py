"""Registry conformance (issue 16.4): every registered op has what an op needs, or a stated reason.

For every op in ``qhw.ops.names()``:

- traits declared (not the empty default), unless ``NO_TRAITS`` says why;
- a golden test against an independent oracle (``ORACLES``: the test that runs it; the test
  function must exist), unless ``NO_ORACLE`` says why;
- a Verilog lowering and an HLS emitter (the backends' ``supported_ops()``), unless
  ``NO_HARDWARE`` / ``NO_HLS_EMITTER`` say why;
- RTL (Verilator stream harness, random gaps and stalls) == golden and HLS C simulation (g++ with
  ap_types) == golden on a small one-op graph (``DESIGNS``), unless ``NO_HARDWARE`` says why.

Each missing piece fails naming the op and what is missing. The Verilator and g++ builds are
cached by content hash: warm, the whole file runs in 17 s; cold it builds 27 small designs per
backend (measured on a loaded 2-core machine: 7 min of g++, about 35 min of Verilator).

Not checked yet (issue 16.4 lists them): a Verilog ``cost()`` beside each lowering and an analytic
cost within bounds of Yosys; they come with the `vlower`/`estimate` branches' cost registry.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import qhw.ops
from qhw import golden
from qhw.backends.hls import run_raw as hls_run_raw
from qhw.backends.hls import supported_ops as hls_supported_ops
from qhw.backends.hls import write_hls
from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.lowering import supported_ops as verilog_supported_ops
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import write_vectors

TESTS = Path(__file__).resolve().parents[1]
OPS = qhw.ops.names()

# ------------------------------------------------------------------ stated reasons
#: ops declaring no trait, and why
NO_TRAITS = {
    "code_softmax": "a whole-vector op (maximum, table, sum, division): not elementwise, not a "
                    "qhw.tables function, no other shared trait describes it; it has its own lowering",
    "embedding": "a lookup of constant rows by an integer index: none of the shared traits "
                 "(elementwise, gather, table, ...) describes it; it has its own lowering",
    "fsum_pool1d": "a window reduction in float32 (per-code values, rounded adds, thresholds): POOL "
                   "would select the integer pools' lowering and HLS template; it has its own",
    "fsum_pool2d": "as fsum_pool1d",
}
#: ops without hardware of their own, and why
NO_HARDWARE = {
    "batchnorm": "folded into the neighbouring dense/conv by qhw.passes.fold before the golden "
                 "model and the backends run; one that cannot fold is refused by name",
}
#: ops without an HLS emitter of their own, and why
NO_HLS_EMITTER = {
    "input": "the graph input is the top function's argument, written by qhw.backends.hls.writer",
}
#: op -> (the test comparing its golden model with an independent oracle, the oracle)
ORACLES = {
    "input": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "output": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "dense": ("test_hls_vs_hls4ml.py::test_qhw_hls_against_hls4ml", "hls4ml predict"),
    "conv1d": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "conv2d": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "relu": ("test_hls_vs_hls4ml.py::test_qhw_hls_against_hls4ml", "hls4ml predict"),
    "relu6": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "clip": ("test_hls_csim.py::test_unary_ops_exhaustive_over_every_input_code",
             "ap_types via g++, every input code"),
    "shift": ("test_hls_csim.py::test_unary_ops_exhaustive_over_every_input_code",
              "ap_types via g++, every input code"),
    "requantize": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "flatten": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "reshape": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "maxpool1d": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "maxpool2d": ("test_frontend_qdq.py::test_golden_equals_onnxruntime", "onnxruntime (QDQ codes)"),
    "avgpool1d": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "avgpool2d": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "add": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "mul": ("test_hls_csim.py::test_csim_equals_golden", "ap_types via g++ (the coverage graph)"),
    "concat": ("test_hls4ml_activations.py::test_softmax_every_implementation_equals_hls4ml",
               "hls4ml predict"),
    "sigmoid": ("test_hls4ml_activations.py::test_tanh_net_with_sigmoid_output_equals_hls4ml",
                "hls4ml predict"),
    "tanh": ("test_hls4ml_activations.py::test_tanh_net_with_sigmoid_output_equals_hls4ml",
             "hls4ml predict"),
    "hard_sigmoid": ("test_frontend_torch.py::test_float_mode_equals_torch", "PyTorch (float semantics)"),
    "softmax": ("test_hls4ml_activations.py::test_softmax_every_implementation_equals_hls4ml",
                "hls4ml predict"),
    "upsample": ("test_upsample.py::test_golden_equals_torch_interpolate", "PyTorch interpolate"),
    "depth_to_space": ("test_depth_to_space.py::test_golden_equals_onnxruntime", "onnxruntime"),
    "threshold": ("test_threshold.py::test_golden_equals_qonnx_multithreshold", "qonnx MultiThreshold"),
    "embedding": ("test_frontend_torch.py::test_embedding_imports_with_the_per_row_scheme",
                  "PyTorch nn.Embedding"),
    "batchnorm": ("test_frontend_qonnx.py::test_trunc_and_batchnorm_equal_qonnx",
                  "qonnx execution (after folding)"),
}
ORACLES["code_table"] = ("test_import_code_table.py::test_code_table_predict_equals_onnxruntime",
                         "onnxruntime (the table is its own QLinear/QDQ nodes run on every code)")
ORACLES["code_softmax"] = ("test_import_merge.py::test_softmax_predict_equals_onnxruntime",
                           "onnxruntime's QLinearSoftmax (QDQ and QOperator)")
ORACLES["transpose"] = ("test_import_pool.py::test_conv_tails_equal_onnxruntime",
                        "onnxruntime (Transpose of quantized codes)")
ORACLES["fsum_pool2d"] = ("test_import_pool.py::test_qonnx_average_equals_qonnx_execution",
                          "qonnx execute_onnx (onnxruntime's float32 AveragePool) and onnxruntime's "
                          "QLinearAveragePool (test_2x2_average_at_ties_equals_onnxruntime)")
ORACLES["fsum_pool1d"] = ("test_fsum_pool.py::test_golden_equals_numpy_float32_and_onnxruntime",
                          "onnxruntime's float AveragePool (1-D) and numpy float32")
ORACLES["pad"] = ("test_import_pool.py::test_conv_tails_equal_onnxruntime", "onnxruntime (Pad of quantized codes)")
ORACLES["qlinear_add"] = ("test_import_merge.py::test_every_code_pair_against_onnxruntime",
                          "onnxruntime's QLinearAdd and fused QDQ Add, every code pair")
#: ops without an oracle test, and why
NO_ORACLE: dict[str, str] = {}


# ------------------------------------------------------------------ one small graph per op
def _unary(op, fmt="ap_fixed<8,3>", in_shape=(6,), formats=None, **attrs):
    def make():
        b = GraphBuilder(f"one_{op}")
        x = b.input("x", in_shape, fmt)
        b.output("y", b.unary(op, "op", x, formats, **attrs))
        return b.build()
    return make


def _with_params(op, shape, fmt, params, formats=None, **attrs):
    def make():
        b = GraphBuilder(f"one_{op}")
        x = b.input("x", shape, fmt)
        b.output("y", b.node("op", op, [x], attrs, params, formats))
        return b.build()
    return make


def _binary(op, **kw):
    def make():
        b = GraphBuilder(f"one_{op}")
        x = b.input("x", (5,), "ap_fixed<8,3>")
        z = b.input("z", (5,), "ap_ufixed<6,2>")
        b.output("y", b.node("op", op, [x, z], kw))
        return b.build()
    return make


def _identity():
    b = GraphBuilder("one_port")
    b.output("y", b.input("x", (5,), "ap_fixed<8,3>"), "ap_fixed<6,2,AP_RND,AP_SAT>")
    return b.build()


_RNG = np.random.default_rng(16)
_SAT = {"result": "ap_fixed<8,3,AP_RND,AP_SAT>"}

DESIGNS = {
    "input": _identity,
    "output": _identity,
    "dense": _with_params("dense", (4,), "ap_fixed<8,3>",
                          {"weight": _RNG.standard_normal((4, 3)), "bias": _RNG.standard_normal(3)}),
    "conv1d": _with_params("conv1d", (5, 2), "ap_fixed<8,3>",
                           {"weight": _RNG.standard_normal((3, 2, 2)) * 0.5}, kernel_size=3),
    "conv2d": _with_params("conv2d", (4, 4, 2), "ap_fixed<8,3>",
                           {"weight": _RNG.standard_normal((2, 2, 2, 2)) * 0.5,
                            "bias": _RNG.standard_normal(2)}, kernel_size=[2, 2], padding=1),
    "relu": _unary("relu"),
    "relu6": _unary("relu6", "ap_fixed<10,5>"),
    "clip": _unary("clip", min_value=-0.5, max_value=1.25),
    "shift": _unary("shift", shift=2, formats={"result": "ap_fixed<8,4,AP_TRN,AP_SAT>"}),
    "requantize": _unary("requantize", "ap_int<10>", (3,), {"result": "ap_int<6>"},
                         multiplier=[3, -5, 7], shift=3),
    "flatten": _unary("flatten", in_shape=(2, 3)),
    "reshape": _unary("reshape", in_shape=(6,), shape=[2, 3]),
    "maxpool1d": _unary("maxpool1d", in_shape=(6, 2), kernel_size=2),
    "maxpool2d": _unary("maxpool2d", in_shape=(4, 4, 2), kernel_size=2),
    "avgpool1d": _unary("avgpool1d", in_shape=(6, 2), kernel_size=3, stride=1, formats=_SAT),
    "avgpool2d": _unary("avgpool2d", in_shape=(4, 4, 2), kernel_size=2),
    "add": _binary("add"),
    "mul": _binary("mul"),
    "concat": _binary("concat"),
    "sigmoid": _unary("sigmoid", table_size=64, formats={"result": "ap_ufixed<8,0,AP_RND,AP_SAT>"}),
    "tanh": _unary("tanh", variant="pwl"),
    "hard_sigmoid": _unary("hard_sigmoid", formats={"result": "ap_ufixed<8,1,AP_RND,AP_SAT>"}),
    "softmax": _unary("softmax", "ap_fixed<10,4>", (4,), table_size=64),
    "upsample": _unary("upsample", in_shape=(3, 2), scale=2),
    "depth_to_space": _unary("depth_to_space", in_shape=(2, 2, 4), block_size=2, mode="DCR"),
    "threshold": _with_params("threshold", (2, 3), "ap_fixed<8,3>",
                              {"thresholds": np.sort(_RNG.standard_normal((3, 4)) * 2, axis=1)}),
    "code_table": _with_params("code_table", (5,), "ap_int<4>",
                               {"table": _RNG.integers(-20, 40, 16).astype(np.float64)},
                               {"result": "ap_int<7>"}),
    "code_softmax": _with_params("code_softmax", (5,), "ap_int<4>",
                                 {"exp": np.rint(2.0 ** 20 * np.exp(np.arange(-15, 1) * 0.4)),
                                  "out": np.minimum(np.arange(257), 255) - 128.0},
                                 {"result": "ap_int<8>"}, scale=256),
    "embedding": _with_params("embedding", (3,), "ap_uint<3>",
                              {"table": _RNG.standard_normal((8, 4))},
                              {"table": "ap_int<6>", "result": "ap_fixed<10,3,AP_RND,AP_SAT>"}),
}

_F32 = {"values": (np.arange(-8, 8) * np.float32(0.3)).astype(np.float32).astype(np.float64),
        "thresholds": np.linspace(-7.0, 7.0, 9).astype(np.float32).astype(np.float64)}
DESIGNS["fsum_pool1d"] = _with_params("fsum_pool1d", (6, 2), "ap_int<4>", _F32, kernel_size=3, stride=1,
                                      padding=1, code_min=-8, out_min=-4)
DESIGNS["fsum_pool2d"] = _with_params("fsum_pool2d", (4, 4, 2), "ap_int<4>", _F32, kernel_size=[2, 2],
                                      code_min=-8, out_min=-4)
DESIGNS["transpose"] = _unary("transpose", in_shape=(2, 3, 2), perm=[2, 0, 1])
DESIGNS["pad"] = _unary("pad", in_shape=(3, 2), pads=[1, 0, 2, 1], mode="constant")


def _qlinear_add():
    from qhw.ops.qlinear_add import onnxruntime_form

    form = onnxruntime_form(0.0131, 0.0297, 0.0514, 3, -5, 2, np.arange(-8, 8))
    b = GraphBuilder("one_qlinear_add")
    x = b.input("x", (5,), "ap_int<6>")
    z = b.input("z", (5,), "ap_int<4>")
    attrs = {k: form[k] for k in ("multiplier", "frac", "zero_point")}
    b.output("y", b.node("op", "qlinear_add", [x, z], dict(attrs, lo=-20, hi=9), {"table": form["table"]}))
    return b.build()


DESIGNS["qlinear_add"] = _qlinear_add

# ------------------------------------------------------------------ the checks
def _missing(op: str, what: str) -> str:
    return f"op {op!r}: {what}"


def test_every_table_names_registered_ops():
    for table, name in ((NO_TRAITS, "NO_TRAITS"), (NO_HARDWARE, "NO_HARDWARE"),
                        (NO_HLS_EMITTER, "NO_HLS_EMITTER"), (ORACLES, "ORACLES"), (NO_ORACLE, "NO_ORACLE"),
                        (DESIGNS, "DESIGNS")):
        stale = sorted(set(table) - set(OPS))
        assert not stale, f"{name} names ops that are not registered: {stale}"


@pytest.mark.parametrize("op", OPS)
def test_traits_declared(op):
    traits = qhw.ops.get(op).traits
    if op in NO_TRAITS:
        assert not traits, _missing(op, f"declares traits {sorted(traits)}: remove it from NO_TRAITS")
    else:
        assert traits, _missing(op, "declares no traits (set `traits` on its class, or state why in "
                                    "NO_TRAITS)")


def _test_exists(test_id: str) -> bool:
    file, func = test_id.split("::")
    path = TESTS / file
    if not path.is_file():
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body)


@pytest.mark.parametrize("op", OPS)
def test_golden_has_an_independent_oracle(op):
    if op in NO_ORACLE:
        assert op not in ORACLES, _missing(op, "is in both ORACLES and NO_ORACLE")
        return
    assert op in ORACLES, _missing(op, "no golden test against an independent oracle (add it to "
                                       "ORACLES, or state why in NO_ORACLE)")
    test_id, oracle = ORACLES[op]
    assert _test_exists(test_id), _missing(op, f"its oracle test {test_id} ({oracle}) does not exist")


@pytest.mark.parametrize("op", OPS)
def test_verilog_lowering_exists(op):
    if op in NO_HARDWARE:
        assert op not in verilog_supported_ops(), _missing(op, "has a Verilog lowering: remove it "
                                                               "from NO_HARDWARE")
        return
    assert op in verilog_supported_ops(), _missing(op, "no Verilog lowering")


@pytest.mark.parametrize("op", OPS)
def test_hls_emitter_exists(op):
    if op in NO_HARDWARE or op in NO_HLS_EMITTER:
        assert op not in hls_supported_ops(), _missing(op, "has an HLS emitter: remove the stated "
                                                           "reason")
        return
    assert op in hls_supported_ops(), _missing(op, "no HLS emitter")


def _design(op):
    if op in NO_HARDWARE:
        pytest.skip(f"{op}: {NO_HARDWARE[op]}")
    assert op in DESIGNS, _missing(op, "no one-op design in DESIGNS")
    g = DESIGNS[op]()
    assert any(n.op == op for n in g.nodes()), _missing(op, "its one-op design does not contain it")
    return g


def _combined():
    """Every op's one-op graph side by side in one design (names prefixed with the op): one
    Verilator build and one g++ build check them all; each op's outputs are compared apart."""
    from qhw.graph import Graph
    from qhw.passes import prepare

    whole = Graph("conformance")
    seen, owners = set(), {}
    for op in OPS:
        if op in NO_HARDWARE or op not in DESIGNS or DESIGNS[op] in seen:
            continue
        seen.add(DESIGNS[op])
        g = DESIGNS[op]()
        for node in g.nodes():
            n = node.copy()
            n.name, n.inputs = f"{op}__{node.name}", [f"{op}__{i}" for i in node.inputs]
            n.inferred = set(node.inferred)
            whole.add(n)
        for out in g.output_names:
            owners[f"{op}__{out}"] = [o for o in OPS if DESIGNS.get(o) is DESIGNS[op]]
    return prepare(whole), owners


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    g, owners = _combined()
    raw = models.random_inputs(g, 48, seed=16)
    want = golden.run_raw(g, raw).outputs
    return g, owners, raw, want, tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="module")
def rtl_outputs(combined):
    """Per output: equal to golden in the RTL simulation (the harness under gaps and stalls)."""
    from qhw.verify.vectors import read_matrix

    g, owners, raw, want, d = combined
    write_verilog(g, d / "rtl")
    write_vectors(d / "vectors", [raw[n] for n in g.input_names], [want[n] for n in g.output_names])
    sim = run_harness(d / "rtl", d / "vectors", seed=16, gap=0.3, stall=0.3, work_dir=d / "sim")
    assert sim.samples == 48, sim.summary()
    actual = read_matrix(d / "sim" / "actual.txt")  # one row per sample, the outputs side by side
    ok, col = {}, 0
    for n in g.output_names:
        k = int(np.prod(g.node(n).shape))
        ok[n] = actual.shape[0] == 48 and np.array_equal(actual[:, col:col + k],
                                                          want[n].reshape(48, -1))
        col += k
    return ok, sim.summary()


@pytest.fixture(scope="module")
def csim_outputs(combined):
    g, owners, raw, want, d = combined
    write_hls(g, d / "hls")
    got = hls_run_raw(d / "hls", raw)
    return {n: np.array_equal(got[n], want[n]) for n in g.output_names}


def _outputs_of(op, g) -> list[str]:
    return [n for n in g.output_names if n.split("__", 1)[0] in
            [o for o in OPS if DESIGNS.get(o) is DESIGNS.get(op)]]


@pytest.mark.parametrize("op", OPS)
def test_rtl_equals_golden_on_a_one_op_graph(op, combined, rtl_outputs):
    g = _design(op)
    ok, summary = rtl_outputs
    outs = _outputs_of(op, combined[0])
    assert outs and all(ok[n] for n in outs), _missing(op, f"RTL != golden on {outs} ({summary})")


@pytest.mark.parametrize("op", OPS)
def test_csim_equals_golden_on_a_one_op_graph(op, combined, csim_outputs):
    _design(op)
    outs = _outputs_of(op, combined[0])
    assert outs and all(csim_outputs[n] for n in outs), _missing(op, f"C simulation != golden on {outs}")
