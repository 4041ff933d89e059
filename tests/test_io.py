"""Native model files: lossless round trip, and one clear error per kind of bad file."""
import numpy as np
import pytest

from qhw import golden
from qhw.errors import ModelError
from qhw.io import load_model, save
from qhw.quant import QuantParams
from qhw.testing import models


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_is_lossless(tmp_path, suffix):
    g = models.conv1d_net()
    g.node("fc").qparams = QuantParams((0.1, 0.2, 0.3, 0.4, 0.5), (0, 1, 2, 3, 4), 8, axis=0)
    path = save(g, tmp_path / f"m{suffix}")
    g2 = load_model(path)
    for a, b in zip(g.nodes(), g2.nodes()):
        assert (a.name, a.op, a.inputs, a.formats, a.shape, a.qparams) == (b.name, b.op, b.inputs, b.formats, b.shape, b.qparams)
        assert a.attrs == b.attrs
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    x = models.random_inputs(g, 20)
    np.testing.assert_array_equal(golden.run_raw(g, x).output(), golden.run_raw(g2, x).output())
    # deterministic bytes
    save(g2, tmp_path / f"again{suffix}")
    assert (tmp_path / f"m{suffix}").read_text().replace("m.npz", "X") == \
        (tmp_path / f"again{suffix}").read_text().replace("again.npz", "X")


def test_bad_files(tmp_path):
    g = models.mlp(widths=(4, 3, 2))
    path = save(g, tmp_path / "m.yaml")
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ModelError, match="cannot read weights file"):
        load_model(path)
    save(g, path)
    text = path.read_text()
    path.write_text(text.replace("op: relu", "op: swish"))
    with pytest.raises(ModelError, match="unknown op 'swish'"):
        load_model(path)
    path.write_text(text.replace("nodes:", "nodez: 1\nnodes:"))
    with pytest.raises(ModelError, match="unknown key"):
        load_model(path)
    path.write_text("{not: [valid")
    with pytest.raises(ModelError, match="cannot read model file"):
        load_model(path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.yaml")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ModelError, match="unknown model file type"):
        load_model(tmp_path / "m.txt")
    path.write_text(text.replace("ap_fixed<16,6>", "ap_fixed<16,6", 1))
    with pytest.raises(ModelError, match="malformed fixed-point format"):
        load_model(path)


def test_no_pickle_in_weights(tmp_path):
    g = models.mlp(widths=(4, 3, 2))
    path = save(g, tmp_path / "m.yaml")
    np.savez(tmp_path / "m.npz", **{"fc1/weight": np.array([object()], dtype=object)})
    with pytest.raises(ModelError):
        load_model(path)
