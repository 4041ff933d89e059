"""The config document: key spellings, precision spellings, validation errors, ignored keys."""
import warnings

import numpy as np
import pytest

from qhw.config import ConfigWarning, hls4ml_spelling, load_config, parse_precision
from qhw.errors import ConfigError, QhwError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder

hls4ml = pytest.importorskip("hls4ml")


@pytest.mark.parametrize("text", [
    "ap_fixed<12,4,AP_RND,AP_SAT>", "fixed<12,4,RND,SAT,0>", "fixed<12, 4, rnd, sat>", "ap_fixed<12,4,RND,SAT,3>",
    "ap_ufixed<9,3,AP_RND_CONV,AP_SAT_SYM>", "ufixed<9,3,RND_CONV,SAT_SYM,0>", "ap_int<7>", "int<7>", "uint<5>",
    "ap_uint<5>", "fixed<16,6>", "ap_fixed<8,-2,AP_TRN_ZERO,AP_SAT_ZERO>", "ap_fixed<4,9>",
])
def test_every_spelling_hls4ml_reads_means_what_hls4ml_parses(text):
    """Oracle: hls4ml's own convert_precision_string."""
    theirs = hls4ml.backends.get_backend("Vitis").convert_precision_string(text)
    ours = parse_precision(text)
    assert (ours.width, ours.integer_bits, ours.signed) == (theirs.width, theirs.integer, theirs.signed)
    assert ours.rounding == str(theirs.rounding_mode) and ours.overflow == str(theirs.saturation_mode)
    if (not ours.is_integer or text.startswith(("fixed", "ufixed"))) and theirs.saturation_bits == 0:
        assert hls4ml_spelling(ours) == str(theirs)  # printed back exactly as hls4ml prints it


@pytest.mark.parametrize("bad,needles", [
    ({"LayerName": {"fc1": {"ReuseFactor": 0}}}, ["LayerName.fc1.ReuseFactor", ">= 1"]),
    ({"LayerName": {"fc1": {"reuse_factor": -3}}}, ["LayerName.fc1.reuse_factor", ">= 1"]),
    ({"LayerType": {"Dense": {"ReuseFactor": "4"}}}, ["LayerType.Dense.ReuseFactor", "integer"]),
    ({"Model": {"Strategy": "Fastest"}}, ["Model.Strategy", "resource_unrolled", "distributed_arithmetic"]),
    ({"LayerName": {"s": {"TableSize": -1024}}}, ["LayerName.s.TableSize", ">= 2"]),
    ({"LayerName": {"s": {"table_size": 1.5}}}, ["LayerName.s.table_size"]),
    ({"LayerName": {"s": {"Implementation": "fast"}}}, ["LayerName.s.Implementation", "stable", "argmax"]),
    ({"LayerName": {"s": {"table_t": "auto"}}}, ["LayerName.s.table_t", "fixed-point"]),
    ({"LayerName": {"s": {"TableSize": 512, "table_size": 256}}}, ["TableSize", "table_size", "same key"]),
    ({"LayerName": {"fc1": {"Precision": {"result": "fixed<8,3,RND,WRAP,2>"}}}}, ["Precision.result", "N=2"]),
    ({"LayerName": {"fc1": {"Precision": {"result": "float"}}}}, ["Precision.result", "not a fixed-point"]),
    ({"LayerName": {"fc1": {"Precision": {"result": "ap_fixed<8,3,AP_RNDD>"}}}}, ["Precision.result", "RND_CONV"]),
    ({"LayerName": {"fc1": {"Precison": {}}}}, ["LayerName.fc1.Precison", "valid here"]),
    ({"Model": {"Precision": {"maximum": "auto"}}}, ["Model.Precision.maximum"]),
    ({"Model": {"ChannelsLastConversion": "sometimes"}}, ["Model.ChannelsLastConversion", "full"]),
    ({"LayerName": {"sm": {"Skip": "yes"}}}, ["LayerName.sm.Skip"]),
    ({"LayerName": "fc1"}, ["LayerName", "mapping"]),
    ({"LayerName": {"fc1": {"ReuseFactor": 10 ** 9}}}, ["LayerName.fc1.ReuseFactor", "QHW_MAX_REUSE_FACTOR"]),
])
def test_bad_values_name_the_key_and_what_is_valid(bad, needles):
    with pytest.raises(QhwError) as exc:
        load_config(bad)
    msg = str(exc.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_layer_keys_in_either_case_model_keys_as_hls4ml_reads_them():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = load_config({"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 2, "Strategy": "Resource",
                                   "TableSize": 64, "reuse_factor": 8, "BramFactor": 10},
                         "LayerType": {"Activation": {"TableSize": 256}, "Dense": {"Strategy": "ResourceUnrolled"}},
                         "LayerName": {"sig": {"table_size": 128},
                                       "fc1": {"ReuseFactor": 4, "Trace": True}}})
    assert c.attr("sig", "sigmoid", "TableSize") == c.attr("sig", "sigmoid", "table_size") == 128
    assert c.attr("tanh1", "tanh", "table_size") == 256  # LayerType Activation
    assert c.attr("fc9", "dense", "table_size") is None  # Model-level TableSize: no effect
    assert c.reuse_factor("fc1", "dense") == 4 and c.reuse_factor("fc2", "dense") == 2
    assert c.strategy("fc2", "dense") == "resource_unrolled" and c.strategy("r", "relu") == "resource"
    assert sorted(c.ignored_keys) == ["LayerName.fc1.Trace", "Model.BramFactor"]
    msgs = [str(x.message) for x in w if issubclass(x.category, ConfigWarning)]
    assert len(msgs) == 2 and all("has no effect in hls4ml" in m for m in msgs)
    assert any(m.startswith("Model.TableSize ") for m in msgs) and any(m.startswith("Model.reuse_factor ") for m in msgs)


def test_precision_chain_is_hls4mls_get_precision():
    c = load_config({"Model": {"Precision": {"default": "fixed<16,6>", "accum": "fixed<20,8>"}},
                     "LayerType": {"Dense": {"Precision": {"weight": "fixed<8,2>"}}, "Activation": {"Precision": "fixed<10,3>"}},
                     "LayerName": {"fc1": {"Precision": "fixed<12,4>"}, "fc2": {"Precision": {"bias": "auto"}},
                                   "sig": {"Precision": {"table": "fixed<10,2>"}, "table_t": "ufixed<12,0>"}}},
                    warn=False)
    p = lambda n, op, s: c.precision(n, op, s)  # noqa: E731
    assert p("fc1", "dense", "weight") == FixedFormat(12, 4)  # name default beats type slot
    assert p("fc2", "dense", "weight") == FixedFormat(8, 2) and p("fc2", "dense", "bias") == "auto"
    assert p("fc2", "dense", "accum") == FixedFormat(20, 8) and p("fc2", "dense", "result") == FixedFormat(16, 6)
    assert p("relu1", "relu", "result") == FixedFormat(10, 3)
    assert p("sig", "sigmoid", "table") == FixedFormat(12, 0, False)  # table_t, not Precision.table
    assert p("tanh", "tanh", "table") is None
    assert c.warnings == ["LayerName.sig.Precision.table has no effect in hls4ml: only a layer-level "
                          "table_t key sets that type (qhw ignores it too)"]


def _sigmoid_graph(variant="rom"):
    b = GraphBuilder("s")
    t = b.input("x", (4,), "ap_fixed<10,4>")
    t = b.unary("sigmoid", "sig", t, variant=variant)
    b.output("y", t)
    return b


def test_table_size_from_a_config_reaches_the_table_op():
    g = _sigmoid_graph().build(config=load_config({"LayerName": {"sig": {"TableSize": 64}}}))
    assert g.node("sig").attrs["table_size"] == 64
    g = _sigmoid_graph().build(config=load_config({"LayerType": {"Activation": {"table_size": 128}}}))
    assert g.node("sig").attrs["table_size"] == 128
    # under an hls4ml config the default ROM is hls4ml's table, which takes any size (as hls4ml)
    g = _sigmoid_graph().build(config=load_config({"LayerName": {"sig": {"TableSize": 1000}}}))
    assert g.node("sig").attrs["table_size"] == 1000
    # qhw's half ROM indexes by bits: a power of two or a clear error
    with pytest.raises(ConfigError, match="table_size of layer 'sig'.*power of two"):
        _sigmoid_graph("half_rom").build(config=load_config({"LayerName": {"sig": {"TableSize": 1000}}}))


def test_auto_accum_is_hls4mls_inference_and_capped_by_maximum():
    rng = np.random.default_rng(0)
    b = GraphBuilder("m")
    t = b.input("x", (6,), "ap_fixed<10,4>")
    t = b.dense("fc", t, rng.normal(size=(6, 3)))
    b.output("y", t)
    cfg = {"Model": {"Precision": {"default": "fixed<8,3>"}},
           "LayerName": {"x": {"Precision": "ap_fixed<10,4>"}, "fc": {"Precision": {"accum": "auto"}}}}
    g = b.build(config=load_config(cfg))
    # x (10,4), w (8,3), bias (8,3), 6 products: W 8+10+3 = 21, I 3+4+3 = 10; bias: I 11, W 11+11
    assert g.node("fc").formats["accum"] == FixedFormat(22, 11)
    assert g.node("fc").formats["result"] == FixedFormat(8, 3)  # not auto: the Model default
    cfg["Model"]["Precision"]["maximum"] = "fixed<18,9>"
    assert b.build(config=load_config(cfg)).node("fc").formats["accum"] == FixedFormat(18, 9)


def test_a_layer_name_matching_no_layer_is_warned():
    cfg = load_config({"Model": {"Precision": "fixed<16,6>"},
                       "LayerName": {"SIG": {"TableSize": 64}, "sigm": {"TableSize": 64}}}, warn=False)
    g = _sigmoid_graph().build(config=cfg)
    assert g.node("sig").attrs["table_size"] == 64  # matched case-insensitively, as hls4ml does
    assert len(cfg.warnings) == 1 and cfg.warnings[0].startswith("LayerName.sigm matches no layer")
    _sigmoid_graph().build(config=cfg)
    assert len(cfg.warnings) == 1  # once per key
