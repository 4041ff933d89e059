import runpy
from pathlib import Path


def test_lsq_example_learns_at_every_bit_width(capsys):
    mod = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "lsq_logistic.py"))
    res = mod["main"]()
    assert res["float"] > 0.85
    assert res[8] > res["float"] - 0.03  # 8 bits loses almost nothing
    assert res[3] > 0.75  # still far above chance (0.5) at 3 bits
    assert "step sizes" in capsys.readouterr().out
