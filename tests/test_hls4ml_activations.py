"""sigmoid, tanh and softmax with an hls4ml config give exactly hls4ml 1.3.0's numbers.

Oracles nobody here wrote:
- hls4ml's own ``compile()`` + ``predict()`` (its C++ through g++), for models whose configs come
  from ``hls4ml.utils.config_from_pytorch_model`` and are edited the way users edit them; qhw runs
  the same config unchanged through the CLI (``qhw predict MODEL --config CFG``) on 5,000+ samples;
- hls4ml's ``nnet_activation.h`` compiled with g++ directly, for table types and sizes the
  end-to-end models do not reach (wide table types, where one float ulp shows, every softmax
  implementation on random and adversarial inputs).
The hls4ml models are built once per module (hls4ml's compile is slow).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

import report
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.io import save

hls4ml = pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")

N = 6000
FIN = FixedFormat(10, 4)
FW = FixedFormat(8, 1)


def qhw(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qhw", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _linear(k, m, seed):
    """A torch Linear whose weights and biases lie on FW's grid (small, so results vary)."""
    rng = np.random.default_rng(seed)
    lin = torch.nn.Linear(k, m)
    w = FW.to_float(rng.integers(-40, 41, (m, k)))
    b = FW.to_float(rng.integers(-64, 65, m))
    lin.weight.data = torch.tensor(w, dtype=torch.float32)
    lin.bias.data = torch.tensor(b, dtype=torch.float32)
    return lin


def _dense(b, name, x, lin):
    return b.dense(name, x, lin.weight.detach().numpy().T.astype(np.float64),
                   lin.bias.detach().numpy().astype(np.float64))


def _onnx(path, nodes, params, out_width):
    """A float ONNX file whose node names are the hls4ml layer names (input x, output y)."""
    from onnx import TensorProto, helper, numpy_helper, save_model

    g = helper.make_graph([helper.make_node(op, ins, [out], name=name, **attrs) for op, name, ins, out, attrs in nodes],
                          "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 10])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, out_width])],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in params.items()])
    save_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _gemm(name, x, out, lin, params):
    params[name + "_w"] = lin.weight.detach().numpy()
    params[name + "_b"] = lin.bias.detach().numpy()
    return ("Gemm", name, [x, name + "_w", name + "_b"], out, {"transB": 1})


def _write_config(cfg, path):
    """What a user does to keep hls4ml's config: drop the model object, write YAML."""
    doc = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items() if k != "PytorchModel"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _hls4ml_predict(model, cfg, out_dir, x_float, out_fmt):
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(out_dir),
                                                      backend="Vitis", io_type="io_parallel")
    hm.compile()
    y = np.asarray(hm.predict(np.ascontiguousarray(x_float, np.float32)), np.float64)
    return out_fmt.to_float(out_fmt.quantize(y.reshape(len(x_float), -1))), hm


def _qhw_predict(model_path, cfg_path, x_float, tmp):
    np.save(tmp / "x.npy", x_float)
    r = qhw("predict", model_path, "--config", cfg_path, "--input", tmp / "x.npy", "--output", tmp / "y.npy",
            "--input-format", str(FIN))
    assert r.returncode == 0, r.stderr
    return np.load(tmp / "y.npy")


# ------------------------------------------------------------------ softmax: every implementation
SM_HEADS = ("sm_latency", "sm_stable", "sm_default", "sm_argmax", "sm_legacy", "sm_skip")
SM_OUT = FixedFormat(24, 8)


class SoftmaxHeads(torch.nn.Module):
    """fc -> six softmax heads (one per hls4ml implementation and edit) -> pairwise concats."""

    def __init__(self):
        super().__init__()
        self.fc = _linear(10, 6, seed=11)
        for name in SM_HEADS:
            setattr(self, name, torch.nn.Softmax(dim=-1))

    def forward(self, x):
        h = self.fc(x)
        a = torch.cat([self.sm_latency(h), self.sm_stable(h)], dim=-1)
        b = torch.cat([self.sm_default(h), self.sm_argmax(h)], dim=-1)
        c = torch.cat([self.sm_legacy(h), self.sm_skip(h)], dim=-1)
        return torch.cat([torch.cat([a, b], dim=-1), c], dim=-1)


def _softmax_config(model):
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(10,), granularity="name", backend="Vitis")
    ln = cfg["LayerName"]
    ln["x"]["Precision"]["result"] = str(FIN)
    ln["fc"]["Precision"] = {"weight": "ap_fixed<8,1>", "bias": "ap_fixed<8,1>", "accum": "ap_fixed<24,10>",
                             "result": "ap_fixed<12,4,AP_RND,AP_SAT>"}
    # latency: narrow inverse table type -> hls4ml shrinks the tables to 2^9 entries
    ln["sm_latency"].update(Implementation="latency", exp_table_t="ap_fixed<16,8,AP_RND,AP_SAT>",
                            inv_table_t="ap_ufixed<9,1,AP_RND,AP_SAT>")
    ln["sm_latency"]["Precision"]["result"] = "ap_ufixed<12,1,AP_RND,AP_SAT>"
    # stable: smaller tables, exp type for exp(-d) in (0, 1], narrow accumulator (Precision.accum
    # is honoured; Precision.exp_table is not: only exp_table_t changes the table)
    ln["sm_stable"].update(TableSize=256, exp_table_t="ap_ufixed<12,1,AP_RND,AP_SAT>",
                           inv_table_t="ap_fixed<16,4,AP_RND,AP_SAT>")
    ln["sm_stable"]["Precision"].update(accum="ap_fixed<14,4,AP_RND,AP_SAT>", exp_table="ap_fixed<8,1>",
                                        result="ap_ufixed<10,0,AP_RND,AP_SAT>")
    ln["sm_argmax"]["Implementation"] = "argmax"
    ln["sm_argmax"]["Precision"]["result"] = "ap_ufixed<4,2>"
    ln["sm_legacy"].update(Implementation="legacy", table_t="ap_fixed<18,6>", TableSize=512)
    ln["sm_legacy"]["Precision"]["result"] = "ap_fixed<16,4,AP_RND,AP_SAT>"
    ln["sm_skip"]["Skip"] = True
    for name in ("cat", "cat_1", "cat_2", "cat_3", "cat_4"):
        ln[name]["Precision"]["result"] = str(SM_OUT)
    # sm_default keeps the generator's values: stable, 1024 entries, result 'auto' (Model default)
    return cfg


def _softmax_yaml(model, path):
    b = GraphBuilder("softmax_heads")
    x = b.input("x", (10,), FIN)
    h = _dense(b, "fc", x, model.fc)
    heads = [b.unary("softmax", name, h) for name in SM_HEADS]
    a = b.concat("cat", heads[0:2])
    c1 = b.concat("cat_1", heads[2:4])
    c2 = b.concat("cat_2", heads[4:6])
    c3 = b.concat("cat_3", [a, c1])
    b.output("y", b.concat("cat_4", [c3, c2]))
    return save(b.build(), path)


def _inputs(n, seed, width=10):
    """Random codes of FIN plus rows that tie (equal maxima), sit at the range ends, or are 0."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(FIN.raw_min, FIN.raw_max + 1, (n, width))
    raw[:50] = 0
    raw[50:100] = FIN.raw_max
    raw[100:150] = FIN.raw_min
    raw[150:300, 1::2] = raw[150:300, 0::2]
    return FIN.to_float(raw)


def _softmax_onnx(model, path, head):
    """fc -> one softmax head (qhw's ONNX frontend has no Concat): the head's columns."""
    params = {}
    return _onnx(path, [_gemm("fc", "x", "h", model.fc, params), ("Softmax", head, ["h"], "y", {"axis": -1})],
                 params, 6)


@pytest.fixture(scope="module")
def softmax_files(tmp_path_factory):
    """The heads model, its hls4ml config and qhw model file (no hls4ml build: the slow compile
    test below starts first, often on the other worker, and needs only these)."""
    d = tmp_path_factory.mktemp("sm")
    model = SoftmaxHeads()
    cfg = _softmax_config(model)
    return {"dir": d, "model": model, "cfg_dict": cfg, "cfg": _write_config(cfg, d / "hls4ml_config.yml"),
            "yaml": _softmax_yaml(model, d / "model.yaml")}


@pytest.fixture(scope="module")
def softmax_run(softmax_files):
    """softmax_files and hls4ml's predict (its own g++ build of the project, ~1 min cold)."""
    f = softmax_files
    x = _inputs(N, 5)
    theirs, hm = _hls4ml_predict(f["model"], f["cfg_dict"], f["dir"] / "hls4ml", x, SM_OUT)
    return {**f, "x": x, "theirs": theirs, "hm": hm}


def test_softmax_every_implementation_equals_hls4ml(softmax_run, request):
    r = softmax_run
    impl = {l.name: l.get_attr("implementation") for l in r["hm"].get_layers() if l.class_name == "Softmax"}
    assert impl == {"sm_latency": "latency", "sm_stable": "stable", "sm_default": "stable",
                    "sm_argmax": "argmax", "sm_legacy": "legacy"}  # sm_skip: removed by hls4ml
    ours = _qhw_predict(r["yaml"], r["cfg"], r["x"], r["dir"])
    theirs = r["theirs"]
    assert ours.shape == theirs.shape == (N, 36)
    for k, name in enumerate(SM_HEADS):
        cols = slice(6 * k, 6 * k + 6)
        bad = int((ours[:, cols] != theirs[:, cols]).any(axis=1).sum())
        distinct = len(np.unique(theirs[:, cols]))
        report.add(f"qhw predict --config == hls4ml 1.3.0 predict, softmax head {name}: {bad} of {N} "
                   f"samples differ ({distinct} distinct output values)", request)
        assert distinct >= (2 if name == "sm_argmax" else 20), f"{name}: outputs do not exercise the tables"
        first = np.flatnonzero((ours[:, cols] != theirs[:, cols]).any(axis=1))[:3]
        assert bad == 0, f"{name}: first differing samples {first}"


@pytest.mark.parametrize("k,head", list(enumerate(SM_HEADS)))
def test_softmax_onnx_with_hls4ml_names_equals_hls4ml(softmax_run, k, head, tmp_path):
    """The same config, unchanged, on an ONNX file whose node names are hls4ml's layer names."""
    r = softmax_run
    ours = _qhw_predict(_softmax_onnx(r["model"], tmp_path / "m.onnx", head), r["cfg"], r["x"], tmp_path)
    np.testing.assert_array_equal(ours, r["theirs"][:, 6 * k:6 * k + 6])


# ------------------------------------------------------------------ tanh net with a sigmoid output
TS_OUT = FixedFormat(12, 0, False, "RND", "SAT")


class TanhSigmoid(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = _linear(10, 16, seed=21)
        self.tanh = torch.nn.Tanh()
        self.fc2 = _linear(16, 4, seed=22)
        self.sig = torch.nn.Sigmoid()

    def forward(self, x):
        return self.sig(self.fc2(self.tanh(self.fc1(x))))


def _tanh_config(model):
    """granularity 'type', then LayerType and LayerName edits as a user makes them."""
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(10,), granularity="type", backend="Vitis")
    lt = cfg["LayerType"]
    lt["InputLayer"]["Precision"]["result"] = str(FIN)
    lt["Dense"]["Precision"] = {"weight": "ap_fixed<8,1>", "bias": "ap_fixed<8,1>", "accum": "ap_fixed<28,11>",
                                "result": "ap_fixed<12,3,AP_RND,AP_SAT>"}
    lt["Activation"].update(TableSize=2048, table_t="ap_fixed<18,2,AP_RND>")
    lt["Activation"]["Precision"]["result"] = "ap_fixed<12,2,AP_RND,AP_SAT>"
    cfg["LayerName"] = {"sig": {"table_t": "ap_ufixed<16,0,AP_RND>", "TableSize": 512,
                                "Precision": {"result": str(TS_OUT)}}}
    return cfg


def _tanh_yaml(model, path):
    b = GraphBuilder("tanh_sigmoid")
    x = b.input("x", (10,), FIN)
    t = b.unary("tanh", "tanh", _dense(b, "fc1", x, model.fc1))
    b.output("y", b.unary("sigmoid", "sig", _dense(b, "fc2", t, model.fc2)))
    return save(b.build(), path)


def _tanh_onnx(model, path):
    params = {}
    nodes = [_gemm("fc1", "x", "h1", model.fc1, params), ("Tanh", "tanh", ["h1"], "t", {}),
             _gemm("fc2", "t", "h2", model.fc2, params), ("Sigmoid", "sig", ["h2"], "y", {})]
    return _onnx(path, nodes, params, 4)


@pytest.fixture(scope="module")
def tanh_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ts")
    model = TanhSigmoid()
    cfg = _tanh_config(model)
    cfg_path = _write_config(cfg, d / "hls4ml_config.yml")
    x = _inputs(N, 6)
    theirs, _ = _hls4ml_predict(model, cfg, d / "hls4ml", x, TS_OUT)
    return {"dir": d, "model": model, "cfg": cfg_path, "x": x, "theirs": theirs,
            "yaml": _tanh_yaml(model, d / "model.yaml"), "onnx": _tanh_onnx(model, d / "model.onnx")}


@pytest.mark.parametrize("kind", ["yaml", "onnx"])
def test_tanh_net_with_sigmoid_output_equals_hls4ml(tanh_run, kind, request):
    r = tanh_run
    ours = _qhw_predict(r[kind], r["cfg"], r["x"], r["dir"])
    bad = int((ours != r["theirs"]).any(axis=1).sum())
    distinct = len(np.unique(r["theirs"]))
    report.add(f"qhw predict {kind} --config == hls4ml 1.3.0 predict, tanh net + sigmoid output (type granularity, "
               f"table_t/TableSize edits): {bad} of {N} samples differ ({distinct} distinct outputs)", request)
    assert distinct > 100
    assert bad == 0


# ------------------------------------------------------------------ qhw compile with those configs
def _compile_and_simulate(model_path, cfg_path, out):
    import json

    from click.testing import CliRunner

    from qhw.cli import cli

    r = CliRunner().invoke(cli, ["compile", str(model_path), "--config", str(cfg_path), "-o", str(out),
                                 "--vectors", "300"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["simulate", str(out), "--backend", "rtl", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["ok"] and res["samples"] == 300 and res["mismatches"] == 0, res
    # (simulate --backend hls --json fails in main: CsimResult has no to_dict; the summary line)
    r = CliRunner().invoke(cli, ["simulate", str(out), "--backend", "hls"])
    assert r.exit_code == 0, r.output
    assert "300 samples, 0 mismatches" in r.output and "PASS" in r.output, r.output


def test_compile_tanh_sigmoid_config_rtl_and_hls_equal_golden(tanh_run, tmp_path):
    _compile_and_simulate(tanh_run["yaml"], tanh_run["cfg"], tmp_path / "out")


@pytest.mark.slow  # Verilator and g++ builds of the softmax net (34 s CPU cold)
def test_compile_softmax_config_rtl_and_hls_equal_golden(softmax_files, tmp_path):
    """The heads model and its config unchanged: every implementation, skip included."""
    _compile_and_simulate(softmax_files["yaml"], softmax_files["cfg"], tmp_path / "out")


# ------------------------------------------------------------------ tables where one float ulp shows
WIDE = [("sigmoid", "ap_ufixed<40,0,AP_RND>", 4096), ("tanh", "ap_fixed<40,1,AP_RND_CONV,AP_SAT>", 4096),
        ("sigmoid", "ap_fixed<30,2>", 1000), ("tanh", "ap_fixed<33,3>", 3000)]
WIDE_IN, WIDE_OUT = FixedFormat(16, 5), FixedFormat(44, 4)
TABLE_TB = r"""
#include <cstdio>
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
typedef {in_t} in_t; typedef {out_t} out_t;
{structs}
template <class C, int F> void run() {{
  for (long long r = {lo}; r <= {hi}; ++r) {{
    in_t x[1]; x[0].setBits(r); out_t y[1];
    if (F) nnet::tanh<in_t, out_t, C>(x, y); else nnet::sigmoid<in_t, out_t, C>(x, y);
    printf("%lld\n", (long long)y[0].range().to_int64());
  }}
}}
int main() {{
{calls}
  return 0;
}}
"""


def test_wide_tables_equal_hls4ml_cpp():
    """Wide table types keep every float bit of hls4ml's entries: sigmoid's float rounding, tanh
    through tanhf (not the double tanh), the C library's expf; non-power-of-two sizes too. Every
    input code of ap_fixed<16,5>, hls4ml's nnet_activation.h through g++."""
    from qhw import golden
    from qhw.tools import gxx
    from qhw.tools.ap_types import hls4ml_templates_dir

    structs = "\n".join(f"struct cfg{k} : nnet::activ_config {{ static const unsigned n_in = 1; "
                        f"static const unsigned table_size = {n}; typedef {t} table_t; }};"
                        for k, (_, t, n) in enumerate(WIDE))
    calls = "\n".join(f"  run<cfg{k}, {int(fn == 'tanh')}>();" for k, (fn, _, _) in enumerate(WIDE))
    src = TABLE_TB.format(in_t=str(WIDE_IN), out_t=str(WIDE_OUT), structs=structs, calls=calls,
                          lo=WIDE_IN.raw_min, hi=WIDE_IN.raw_max)
    root = hls4ml_templates_dir()
    exe = gxx.build({"tb.cpp": src}, [root / "ap_types", root], name="hls4ml_wide_table")
    exe = getattr(exe, "exe", exe)
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), np.int64)
    got = np.where(got >= 1 << 43, got - (1 << 44), got).reshape(len(WIDE), -1)
    codes = np.arange(WIDE_IN.raw_min, WIDE_IN.raw_max + 1)[:, None]
    for k, (fn, table_t, n) in enumerate(WIDE):
        b = GraphBuilder("t")
        x = b.input("x", (1,), WIDE_IN)
        b.output("y", b.unary(fn, "a", x, formats={"result": WIDE_OUT, "table": FixedFormat.parse(table_t)},
                              variant="hls4ml", table_size=n))
        want = golden.run_raw(b.build(), codes).outputs["y"][:, 0]
        bad = np.flatnonzero(got[k] != want)
        assert bad.size == 0, f"{fn} {table_t} N={n}: {bad.size} of {codes.size} codes differ, first {codes[bad[0], 0]}"


# ------------------------------------------------------------------ softmax against nnet_activation.h
SM_CASES = [  # implementation, input, result, {slot: format}, exp size, inv size, exp_scale
    ("latency", "ap_ufixed<8,3>", "ap_fixed<16,4,AP_RND_CONV,AP_SAT>",
     {"exp_table": "ap_fixed<12,6,AP_RND,AP_SAT>", "inv_table": "ap_ufixed<10,0,AP_RND,AP_SAT>",
      "accum": "ap_fixed<10,5>", "inv_inp": "ap_fixed<12,6,AP_RND,AP_SAT>"}, 256, 1024, 0.5),
    ("stable", "ap_fixed<9,4,AP_RND>", "ap_ufixed<8,0,AP_RND,AP_SAT>",
     {"exp_table": "ap_ufixed<10,1,AP_RND,AP_SAT>", "inv_table": "ap_fixed<12,3,AP_RND,AP_SAT>",
      "accum": "ap_ufixed<12,3,AP_RND_INF,AP_SAT>", "inv_inp": "ap_ufixed<12,3>"}, 256, 512, 1.0),
    ("legacy", "ap_fixed<12,5>", "ap_fixed<10,3,AP_RND,AP_SAT>", {}, 1024, 256, 1.0),
    ("argmax", "ap_fixed<6,2>", "ap_ufixed<1,0>", {}, 1024, 1024, 1.0),
]
SM_TB = r"""
#include <cstdio>
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
{structs}
template <class I, class O, class C> void run(int rows) {{
  for (int k = 0; k < rows; k++) {{
    I x[7]; O y[7];
    for (int i = 0; i < 7; i++) {{ long long r; if (scanf("%lld", &r) != 1) return; x[i].setBits(r); }}
    nnet::softmax<I, O, C>(x, y);
    for (int i = 0; i < 7; i++) printf("%lld ", (long long)y[i].range().to_int64());
    printf("\n");
  }}
}}
int main() {{
{calls}
  return 0;
}}
"""


def test_softmax_implementations_equal_nnet_activation_h():
    """hls4ml's softmax templates through g++ on adversarial types (unsigned inputs, a wrapping
    accumulator, RND_INF, exp_scale, an output type that cannot hold 1), 7 inputs (an uneven
    tree), random codes, ties and range ends; every output code equal."""
    from qhw import golden
    from qhw.tools import gxx
    from qhw.tools.ap_types import hls4ml_templates_dir

    structs, calls, feeds, wants = [], [], [], []
    rng = np.random.default_rng(17)
    for k, (impl, in_t, out_t, slots, exp_n, inv_n, scale) in enumerate(SM_CASES):
        fin, fout = FixedFormat.parse(in_t), FixedFormat.parse(out_t)
        fmt = {s: FixedFormat.parse(v) for s, v in slots.items()}
        norm = FixedFormat(fin.width - fin.signed, fin.integer_bits - fin.signed, False)
        t = {s: str(fmt.get(s, FixedFormat(18, 8, True, "RND", "SAT"))) for s in
             ("exp_table", "inv_table", "accum", "inv_inp")}
        structs.append(
            f"struct cfg{k} : nnet::activ_config {{ static const unsigned n_in = 7; static const unsigned n_slice = 7;"
            f" static const unsigned n_outer = 1; static const unsigned n_inner = 1;"
            f" static const unsigned exp_table_size = {exp_n}; static const unsigned inv_table_size = {inv_n};"
            f" static const nnet::softmax_implementation implementation = nnet::softmax_implementation::{impl};"
            f" static constexpr float exp_scale = {scale}; typedef {t['exp_table']} exp_table_t;"
            f" typedef {t['inv_table']} inv_table_t; typedef {t['accum']} accum_t;"
            f" typedef {t['inv_inp']} inv_inp_t; typedef {norm} inp_norm_t; }};")
        calls.append(f"  run<{in_t}, {out_t}, cfg{k}>(2000);")
        raw = rng.integers(fin.raw_min, fin.raw_max + 1, (2000, 7))
        raw[:40] = fin.raw_max
        raw[40:80] = fin.raw_min
        raw[80:400, 3:] = raw[80:400, :1]
        feeds.append(raw)
        b = GraphBuilder("sm")
        x = b.input("x", (7,), fin)
        b.output("y", b.unary("softmax", "sm", x, formats={"result": fout, **fmt}, variant="hls4ml",
                              implementation=impl, exp_table_size=exp_n, inv_table_size=inv_n, exp_scale=scale))
        wants.append(golden.run_raw(b.build(), raw).outputs["y"])
    src = SM_TB.format(structs="\n".join(structs), calls="\n".join(calls))
    root = hls4ml_templates_dir()
    exe = gxx.build({"tb.cpp": src}, [root / "ap_types", root], name="hls4ml_softmax")
    exe = getattr(exe, "exe", exe)
    stdin = "\n".join(" ".join(map(str, row)) for raw in feeds for row in raw.tolist())
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout
    got = np.array(out.split(), np.int64).reshape(len(SM_CASES), 2000, 7)
    for k, (impl, _, out_t, *_rest) in enumerate(SM_CASES):
        fout = FixedFormat.parse(out_t)
        g = got[k] & ((1 << fout.width) - 1)
        if fout.signed:
            g = np.where(g >= 1 << (fout.width - 1), g - (1 << fout.width), g)
        bad = int((g != wants[k]).any(axis=1).sum())
        assert bad == 0, f"{impl}: {bad} of 2000 rows differ, first {np.flatnonzero((g != wants[k]).any(axis=1))[:3]}"
        assert impl == "argmax" or len(np.unique(wants[k])) > 10
