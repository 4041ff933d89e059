"""hls4ml 1.3.0 io_stream as an external oracle for issue 18's CNN, at a small size.

``qhw.testing.models.cnn(size=8, widths=(4, 4))``: the same layers as the benchmark CNN (3x3
'same' conv + ReLU + 2x2 max pool, twice, flatten, dense; ap_fixed<4,1> weights, ap_fixed<8,3>
results with TRN/WRAP) built as a PyTorch twin with qhw's quantized parameters and qhw's formats
per layer (benchmarks/bench_hls4ml_cnn.py, where the conventions are explained), converted with
``io_stream`` and run by hls4ml's own g++ C simulation. Every output must equal qhw's golden
model. hls4ml==1.3.0 is in the ``dev`` extra; the test skips where it or torch is missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from qhw import golden
from qhw.testing import models

hls4ml = pytest.importorskip("hls4ml")
pytest.importorskip("torch")

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_hls4ml_cnn as twin  # noqa: E402  (the twin and its hls4ml config)

N = 200


def test_small_cnn_io_stream_equals_golden(tmp_path):
    graph = models.cnn(size=8, widths=(4, 4))
    hm, _ = twin.convert(graph, tmp_path / "hls4ml")
    hm.compile()
    fmt = graph.node("x").formats["result"]
    wide = twin.sample_inputs(graph, N, seed=1)
    wide[:3] = fmt.to_float(np.array([fmt.raw_min, fmt.raw_max, 0]))[:, None, None, None]
    narrow = twin.sample_inputs(graph, N, seed=2, span=twin.NARROW)
    x = np.concatenate([wide, narrow])
    res = golden.run(graph, x)
    want = res.output()
    got = twin.hls4ml_raw(graph, hm.predict(np.ascontiguousarray(x, np.float32))).reshape(want.shape)
    # the inputs reach both regimes: results that wrap and results that stay in range
    wrapped = sum(c.wrapped for c in res.overflow.values())
    assert 0 < wrapped < sum(c.total for c in res.overflow.values())
    assert len(np.unique(want)) > 50
    bad = np.argwhere(got != want)
    assert not len(bad), (f"{len(bad)} of {want.size} outputs differ from hls4ml's C simulation, "
                          f"first at sample {bad[0][0]}: golden {want[bad[0][0]]}, hls4ml {got[bad[0][0]]}")
