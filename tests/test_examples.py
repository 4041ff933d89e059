"""Every bundled example runs with its one command and does what its docstring promises."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def _main(rel: str):
    return runpy.run_path(str(EXAMPLES / rel), run_name="not_main")["main"]


def test_conv_net_example_trains_quantizes_and_simulates():
    res = _main("conv_net/run.py")(["--bits", "10", "--vectors", "100"])
    assert res["float_accuracy"] > 0.9  # the task is learnable: 4 classes, chance is 0.25
    assert res["fixed_accuracy"] > res["float_accuracy"] - 0.02
    assert res["rtl_mismatches"] == 0 and res["hls_mismatches"] == 0


def test_onnx_mnist_example_reproduces_the_bundled_output():
    import pytest

    pytest.importorskip("qonnx")
    res = _main("onnx_mnist/run.py")(["--bits", "16", "--vectors", "10"])
    assert res["float_rel_error"] < 1e-5  # float import == the model's own expected output
    assert res["fixed_class"] == res["expected_class"]
    assert res["hls_mismatches"] == 0


@pytest.mark.slow  # five Yosys runs, the PWL one with general multipliers 30 s CPU
def test_sigmoid_demo_compares_error_and_area():
    # a 12-bit input (4,096 codes, still above the 1,024-entry tables) narrows the PWL's
    # multipliers: 55 s CPU for the five Yosys runs instead of 71 s with the default 16 bits
    rows = _main("sigmoid_demo/run.py")(["--synth", "--input", "ap_fixed<12,4>"])
    # errors over every input code: the full ROM is the most accurate, PWL with shift-only
    # slopes the least; the half table halves the stored bits
    assert rows["rom 1024"]["max_abs_error"] <= rows["pwl"]["max_abs_error"] <= rows["pwl pow2"]["max_abs_error"]
    assert rows["half rom 512"]["bits"] * 2 == rows["rom 1024"]["bits"]
    # shift-add slopes cost far fewer LUTs than general constant multipliers (Yosys)
    assert rows["pwl pow2"]["yosys_luts"] * 3 < rows["pwl"]["yosys_luts"]
    assert all(r["yosys_luts"] + r["yosys_bram"] > 0 for r in rows.values())


def test_sigmoid_demo_designs_in_hls_csim_equal_golden_on_every_code(tmp_path):
    """The demo's one-node designs through qhw's HLS C++ (g++), every input code."""
    import numpy as np

    from qhw.backends.hls import run_raw, write_hls
    from qhw.fixed import FixedFormat
    from qhw.golden import run_raw as golden_raw

    demo = runpy.run_path(str(EXAMPLES / "sigmoid_demo" / "run.py"), run_name="not_main")
    fmt = FixedFormat.parse("ap_fixed<16,6>")
    raw = np.arange(fmt.raw_min, fmt.raw_max + 1).reshape(-1, 1)
    for name, attrs in demo["VARIANTS"].items():
        g = demo["one_node"](str(fmt), "ap_ufixed<10,0,AP_RND,AP_SAT>", attrs)
        out = tmp_path / attrs["variant"] / name.replace(" ", "_")
        write_hls(g, out)
        np.testing.assert_array_equal(run_raw(out, raw)["y"], golden_raw(g, raw).outputs["y"],
                                      err_msg=name)


def test_embedding_example_per_row_scales_and_simulations():
    res = _main("embedding_model/run.py")(["--vectors", "100"])
    assert res["per_row"] < res["per_table"] / 10  # small rows keep their resolution
    assert res["rtl_mismatches"] == 0 and res["hls_mismatches"] == 0


def test_brevitas_tfc_example_matches_qonnx_and_simulates():
    import pytest

    pytest.importorskip("brevitas")
    res = _main("brevitas_tfc/run.py")(["--bits", "2", "--samples", "30", "--vectors", "30"])
    # the host-side float tail (TensorNorm) and scaling make the outputs qonnx's up to float32
    # rounding of its float MatMul: a few ulps of the largest output
    assert res["max_abs_diff"] <= 2.0**-20 * max(1.0, res["max_abs_output"])
    assert res["same_class"] >= 0.9 and res["hls_mismatches"] == 0


@pytest.mark.slow  # calibration, Verilator and g++ builds: 52 s cold on the 2-core CI
def test_onnxruntime_qdq_example_matches_onnxruntime_and_simulates():
    import pytest

    pytest.importorskip("onnxruntime.quantization")
    pytest.importorskip("torch")
    res = _main("onnxruntime_qdq/run.py")(["--samples", "300", "--vectors", "30"])
    assert "code_table" in res["ops"]  # the sigmoid became onnxruntime's own table of codes
    # exact but for float32 requantization ties (< 0.5% of outputs, one code each)
    assert res["max_lsb"] <= 1.0 + 1e-6 and res["differing"] <= 0.005 * res["outputs"]
    assert res["rtl_mismatches"] == 0 and res["hls_mismatches"] == 0


@pytest.mark.slow  # Verilator and g++ builds of the example: 49 s cold on the 2-core CI
def test_torch_ao_example_matches_the_quantized_module_and_simulates():
    import pytest

    pytest.importorskip("torch")
    res = _main("torch_ao/run.py")(["--samples", "300", "--vectors", "30"])
    assert res["max_lsb"] <= 1.0 + 1e-6 and res["differing"] <= 0.005 * res["outputs"]
    assert res["rtl_mismatches"] == 0 and res["hls_mismatches"] == 0
