"""Bad configs through the real CLI: one `qhw: error:` line naming the key and what is valid,
exit code 2, nothing written, the case's folder unchanged."""
import shutil

import pytest

from bad_input_harness import REPO, assert_error, run_qhw, unchanged

EXAMPLE = REPO / "examples" / "jet_mlp"

CASES = {
    "reuse_zero": ("LayerName:\n  fc1:\n    ReuseFactor: 0\n", ["LayerName.fc1.ReuseFactor", ">= 1"]),
    "reuse_huge": ("Model:\n  ReuseFactor: 1000000000\n", ["Model.ReuseFactor", "QHW_MAX_REUSE_FACTOR"]),
    "strategy": ("Model:\n  Strategy: Fastest\n", ["Model.Strategy", "latency", "distributed_arithmetic"]),
    "table_size_negative": ("LayerName:\n  fc1:\n    TableSize: -8\n", ["LayerName.fc1.TableSize", ">= 2"]),
    "implementation": ("LayerType:\n  Softmax:\n    Implementation: fastest\n", ["LayerType.Softmax.Implementation", "argmax"]),
    "precision": ("LayerName:\n  fc1:\n    Precision:\n      result: ap_fixd<8,3>\n",
                  ["LayerName.fc1.Precision.result", "ap_fixd<8,3>", "ap_fixed<W,I"]),
    "rounding": ("Model:\n  Precision: fixed<8,3,RND_HALF,SAT,0>\n", ["Model.Precision", "RND_HALF", "RND_CONV"]),
    "slot": ("LayerName:\n  fc1:\n    Precision:\n      wieght: ap_fixed<8,3>\n", ["LayerName.fc1.Precision.wieght", "weight"]),
    "key": ("LayerName:\n  fc1:\n    ReuseFactr: 2\n", ["LayerName.fc1.ReuseFactr", "reuse_factor"]),
    "layer_type": ("LayerType:\n  Swish: {}\n", ["LayerType.Swish", "Dense"]),
    "top": ("Modle: {}\n", ["Modle", "Model"]),
    "not_a_mapping": ("- 1\n- 2\n", ["mapping"]),
    "yaml_syntax": ("Model: [unclosed\n", ["cannot read config"]),
    "float_type": ("Model:\n  Precision: {default: float}\n", ["Model.Precision.default", "not a fixed-point"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_config_is_one_error_line(name, tmp_path):
    text, needles = CASES[name]
    case = tmp_path / "case"
    case.mkdir()
    for f in ("model.yaml", "model.npz"):
        shutil.copy(EXAMPLE / f, case / f)
    (case / "cfg.yaml").write_text(text)
    with unchanged(case):
        r = run_qhw(["compile", "model.yaml", "--config", "cfg.yaml", "-o", str(tmp_path / "out")], cwd=case)
    assert_error(r, *needles)
    assert not (tmp_path / "out").exists()


def test_alias_bomb_and_deep_nesting_are_refused_before_building(tmp_path):
    bomb = "n0: &n0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"n{i + 1}: &n{i + 1} [" + ", ".join([f"*n{i}"] * 10) + "]\n" for i in range(120))
    deep = "Model: " + "[" * 200 + "]" * 200 + "\n"
    for name, text, needle in (("bomb", bomb, "QHW_MAX_YAML_ALIASES"), ("deep", deep, "QHW_MAX_NESTING_DEPTH")):
        case = tmp_path / name
        case.mkdir()
        for f in ("model.yaml", "model.npz"):
            shutil.copy(EXAMPLE / f, case / f)
        (case / "cfg.yaml").write_text(text)
        with unchanged(case):
            r = run_qhw(["predict", "model.yaml", "--config", "cfg.yaml", "--input", "x.npy", "--output",
                         str(tmp_path / f"{name}.npy")], cwd=case, timeout=60, memory_mb=1024)
        assert_error(r, "cfg.yaml", needle)


@pytest.mark.parametrize("name,text,needle", [
    # 9 levels of 9 aliases: 81 aliases (under the alias limit) that expand to 9**9 values
    ("laughs.yaml", "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i + 1}: &a{i + 1} [" + ", ".join([f"*a{i}"] * 9) + "]\n" for i in range(8))
     + "LayerName: {fc1: {Precision: *a8}}\n", "QHW_MAX_DOCUMENT_NODES"),
    # JSON nested past Python's recursion limit: no RecursionError, one line
    ("deep.json", "{\"Model\": " + "[" * 5000 + "]" * 5000 + "}", "QHW_MAX_NESTING_DEPTH"),
])
def test_config_expansion_bomb_and_deep_json_are_refused(tmp_path, name, text, needle):
    case = tmp_path / "case"
    case.mkdir()
    for f in ("model.yaml", "model.npz"):
        shutil.copy(EXAMPLE / f, case / f)
    (case / name).write_text(text)
    with unchanged(case):
        r = run_qhw(["compile", "model.yaml", "--config", name, "-o", str(tmp_path / "out")], cwd=case,
                    timeout=60, memory_mb=1024)
    assert_error(r, name, needle)
    assert not (tmp_path / "out").exists()
