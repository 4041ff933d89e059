"""Bad activation settings in an hls4ml config: one line naming the key, exit 2, nothing written."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from bad_input_harness import assert_error, run_qhw, unchanged
from qhw.flow import GraphBuilder
from qhw.io import save


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("act")
    b = GraphBuilder("act")
    x = b.input("x", (4,), "ap_fixed<8,3>")
    s = b.unary("sigmoid", "sig", x)
    b.output("y", b.unary("softmax", "sm", s))
    save(b.build(), d / "m.yaml")
    np.save(d / "x.npy", np.zeros((3, 4)))
    return d


@pytest.mark.parametrize("layer,key,value,needles", [
    ("sm", "Implementation", "fast", ("sm.Implementation", "fast", "latency, stable, argmax, legacy")),
    ("sm", "Skip", "yes", ("sm.Skip", "yes")),
    ("sig", "TableSize", 10 ** 12, ("sig.TableSize", "QHW_MAX_TABLE_ENTRIES")),
    ("sm", "TableSize", "lots", ("sm.TableSize", "lots")),
    ("sm", "inv_table_size", 3, ("sm", "table size 3", "power of two", "inv_table_size 3")),
])
def test_bad_activation_key_is_one_line(model, tmp_path, layer, key, value, needles):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(yaml.safe_dump({"Model": {"Precision": {"default": "ap_fixed<16,6>"}},
                                   "LayerName": {layer: {key: value}}}))
    with unchanged(model, tmp_path):
        r = run_qhw(["predict", model / "m.yaml", "--config", cfg, "--input", model / "x.npy",
                     "--output", tmp_path / "y.npy"])
        assert_error(r, *needles)
