"""hls4ml-layout configs: precedence, slots, auto, ignored keys, unknown keys, files."""
import json

import pytest

from qhw.config import load_config
from qhw.errors import ConfigError
from qhw.fixed import FixedFormat
from qhw.testing import models

CFG = {
    "Model": {"Precision": "ap_fixed<14,5>", "ReuseFactor": 2, "Strategy": "Latency", "BramFactor": 10},
    "LayerType": {"Dense": {"Precision": {"weight": "ap_fixed<8,2>", "accum": "auto"}}},
    "LayerName": {"fc2": {"Precision": {"result": "ap_fixed<10,4,AP_RND,AP_SAT>"}, "ReuseFactor": 4,
                          "Trace": True}},
}


def test_precedence_and_slots():
    c = load_config(CFG)
    assert c.precision("fc1", "dense", "weight") == FixedFormat(8, 2)
    assert c.precision("fc1", "dense", "accum") == "auto"
    assert c.precision("fc2", "dense", "result") == FixedFormat(10, 4, True, "RND", "SAT")
    assert c.precision("fc2", "dense", "weight") == FixedFormat(8, 2)  # from LayerType
    assert c.precision("relu1", "relu", "result") == FixedFormat(14, 5)  # Model string: every slot
    assert c.default == FixedFormat(14, 5)
    assert c.reuse_factor("fc2", "dense") == 4 and c.reuse_factor("fc1", "dense") == 2
    assert sorted(c.ignored_keys) == ["LayerName.fc2.Trace", "Model.BramFactor"]


def test_config_applies_to_the_graph():
    g = models.mlp(widths=(4, 6, 3), config=load_config(CFG))
    fc1, fc2 = g.node("fc1"), g.node("fc2")
    assert fc1.formats["weight"] == FixedFormat(8, 2)
    assert fc1.formats["result"] == FixedFormat(14, 5)  # Model default
    assert fc2.formats["result"] == FixedFormat(10, 4, True, "RND", "SAT")
    assert (fc1.attrs["reuse_factor"], fc2.attrs["reuse_factor"]) == (2, 4)
    # hls4ml: relu result = the Model default; auto accum = hls4ml's common precision of
    # x (14,5), w (8,2), bias (14,5) over 6 products: W 8+14+3 = 25, I 2+5+3 = 10, then the bias
    # adds one integer bit and keeps the larger fraction: ap_fixed<26,11>
    assert g.node("relu1").formats["result"] == FixedFormat(14, 5)
    assert fc2.formats["accum"] == FixedFormat(26, 11)
    assert fc2.attrs["product_cast"] is True  # hls4ml casts each product into accum_t


@pytest.mark.parametrize("bad,match", [
    ({"Model": {"Precison": "ap_fixed<8,3>"}}, "Model.Precison"),
    ({"LayerName": {"fc1": {"Precision": {"wieght": "ap_fixed<8,3>"}}}}, "LayerName.fc1.Precision.wieght"),
    ({"LayerName": {"fc1": {"Precision": "ap_fixd<8,3>"}}}, "ap_fixd<8,3>"),
    ({"LayerType": {"Swish": {}}}, "LayerType.Swish"),
    ({"Modle": {}}, "Modle"),
    ({"Model": {"ReuseFactor": 0}}, "ReuseFactor"),
])
def test_unknown_keys_and_bad_values_are_named(bad, match):
    with pytest.raises(ConfigError, match=match):
        load_config(bad)


def test_files(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(CFG))
    (tmp_path / "c.yaml").write_text("Model:\n  Precision: ap_fixed<12,4>\n")
    assert load_config(tmp_path / "c.json").reuse_factor("fc2", "dense") == 4
    assert load_config(tmp_path / "c.yaml").default == FixedFormat(12, 4)
    (tmp_path / "bad.yaml").write_text("Model: [unclosed")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "bad.yaml")
