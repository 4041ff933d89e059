"""The two checks every generated design gets: ``verilator --lint-only -Wall`` and Yosys
``read_verilog -sv; synth`` (bottom-up, see :func:`qhw.tools.yosys.synth_check`).

A fully parallel MLP of real size has thousands of distinct constant multipliers, and Yosys
needs about 0.2 s of CPU for each (the jet MLP: ~3,000, ten minutes). Its synthesis check runs on
:func:`small_mlp_twin`, a small MLP with every multiplier shape of the big one; the big one is
linted (Verilator elaborates every one of its parameter sets)."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace


def design_in(rtl_dir) -> SimpleNamespace:
    """The design a ``qhw compile`` wrote (``OUT/rtl/design.json``), as ``write_verilog`` returns it."""
    rtl_dir = Path(rtl_dir)
    man = json.loads((rtl_dir / "design.json").read_text())
    return SimpleNamespace(rtl_dir=rtl_dir, files=man["files"], top=man["top"],
                           sim_files=man.get("sim_files", []))


def design_cache(root, make, n: int, seed: int):
    """``get(name)`` -> (graph, design, folder holding rtl/ and vectors/), written on first use
    into ``root / name``: ``make(name)`` gives the graph and the Verilog backend options; the
    vectors are ``n`` golden samples drawn with ``seed``. For fixtures sharing designs among
    tests."""
    from qhw.backends.verilog import write_verilog
    from qhw.verify.vectors import golden_vectors, write_vectors

    made = {}

    def get(name):
        if name not in made:
            g, opts = make(name)
            d = write_verilog(g, Path(root) / name / "rtl", options=opts)
            ins, exp = golden_vectors(g, n, seed=seed)
            write_vectors(Path(root) / name / "vectors", ins, exp)
            made[name] = (g, d, Path(root) / name)
        return made[name]

    return get


def assert_lint_clean(d) -> None:
    """Both flavours lint-clean: the synthesis one (``files``) and, when the design has one, the
    simulation one (``sim_files``, what Verilator simulates)."""
    from qhw.tools.verilator import lint

    for files in (d.files, getattr(d, "sim_files", None)):
        if files:
            res = lint([d.rtl_dir / f for f in files], top=d.top)
            assert res.ok, res.summary()


def assert_synthesizes(d) -> dict:
    """Yosys synth of the whole design without errors and without latches; returns ``stat``."""
    from qhw.tools.yosys import synth_check

    res = synth_check(d.rtl_dir, d.files, d.top)
    for note in res.notes:  # a retry after Yosys died is allowed once, and shown in the CI log
        warnings.warn(f"{d.top}: {note}", stacklevel=2)
    assert res.ok, f"Yosys synth of {d.top}: {res.summary()}"
    cells = {}
    for mod in res.stat.get("modules", {}).values():
        for typ, n in mod.get("num_cells_by_type", mod.get("cell_types", {})).items():
            cells[typ] = cells.get(typ, 0) + n
    latches = {t: n for t, n in cells.items() if "LATCH" in t.upper()}
    assert not latches, f"latches in {d.top}: {latches}"
    return res.stat


def check_design(d) -> None:
    assert_lint_clean(d)
    assert_synthesizes(d)


def multiplier_shapes(d) -> set[tuple[str, str]]:
    """The distinct shapes of a design's shared multipliers: (kind, parameters without the
    constant), e.g. ``("cmul", ".WA(16), .WB(9)")``; the kind is the module name after the top's."""
    from qhw.tools.yosys import leaf_variants

    return {(mod.removeprefix(f"{d.top}_"), re.sub(r",\s*\.B\(.*", "", params))
            for mod, variants in leaf_variants(Path(d.rtl_dir), list(d.files)).items()
            for params in variants}


_SEEDS: dict[tuple, int] = {}  # (shapes, widths) -> the first covering seed, per process


def _covering_seed(shapes: frozenset, widths: tuple[int, ...], scratch: Path, tries: int) -> int:
    from qhw.backends.verilog import write_verilog
    from qhw.testing import models

    if (shapes, widths) not in _SEEDS:
        for seed in range(tries):
            d = write_verilog(models.mlp(widths=widths, seed=seed), scratch / f"seed{seed}")
            if shapes <= multiplier_shapes(d):
                _SEEDS[shapes, widths] = seed
                break
        else:
            raise AssertionError(f"no models.mlp(widths={widths}, seed<{tries}) has every multiplier "
                                 f"shape of the design: {sorted(shapes)}; try wider layers")
    return _SEEDS[shapes, widths]


def small_mlp_twin(d, folder, widths: tuple[int, ...] = (16, 8, 4, 5), tries: int = 100):
    """A small fully parallel MLP (``models.mlp(widths, seed)``, the first seed that fits) whose
    shared multipliers have every shape (:func:`multiplier_shapes`) of design ``d``, written
    into ``folder``: the same templates and multiplier shapes in ~200 multipliers instead of
    thousands. The same shapes give the same twin, so its Yosys check is cached once."""
    from qhw.backends.verilog import write_verilog
    from qhw.testing import models

    folder = Path(folder)
    seed = _covering_seed(frozenset(multiplier_shapes(d)), tuple(widths), folder / "search", tries)
    twin = write_verilog(models.mlp(widths=widths, seed=seed), folder / "twin")
    assert multiplier_shapes(d) <= multiplier_shapes(twin)
    return twin


def small_conv1d_net(fmt: str = "ap_fixed<12,4>", seed: int = 1):
    """``models.conv1d_net``'s layers (conv 'same' + ReLU, max pool, strided conv + ReLU, flatten,
    dense) on a 10x2 input with 4 and 2 filters: about a tenth of its products, for Yosys checks
    of folded designs, where every product of a folded layer is a multiplier with muxed weights."""
    import numpy as np

    from qhw.flow import GraphBuilder

    rng = np.random.default_rng(seed)
    b = GraphBuilder("conv1d_small")
    t = b.input("x", (10, 2), fmt)
    t = b.conv1d("conv1", t, rng.standard_normal((3, 2, 4)) / 2.5, rng.standard_normal(4) * 0.1,
                 padding="same")
    t = b.relu("relu1", t)
    t = b.pool("maxpool1d", "pool1", t, kernel_size=2)
    t = b.conv1d("conv2", t, rng.standard_normal((3, 4, 2)) / 3.5, stride=2)
    t = b.relu("relu2", t)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((4, 3)) / 2, rng.standard_normal(3) * 0.1)
    b.output("y", t)
    return b.build(default=fmt)


def small_conv2d_net(fmt: str = "ap_fixed<12,4>", seed: int = 2):
    """``models.conv2d_net``'s layers (padded conv + ReLU, max pool, conv + ReLU, average pool,
    flatten, dense) on a 4x4 image with 2 channels and 2 filters: a quarter of its products, for
    Yosys checks of folded designs."""
    import numpy as np

    from qhw.flow import GraphBuilder

    rng = np.random.default_rng(seed)
    b = GraphBuilder("conv2d_small")
    t = b.input("x", (4, 4, 2), fmt)
    t = b.conv2d("conv1", t, rng.standard_normal((3, 3, 2, 2)) / 4, rng.standard_normal(2) * 0.1,
                 padding=1)
    t = b.relu("relu1", t)
    t = b.pool("maxpool2d", "pool1", t, kernel_size=2)
    t = b.conv2d("conv2", t, rng.standard_normal((2, 2, 2, 2)) / 3, padding=1)
    t = b.relu("relu2", t)
    t = b.pool("avgpool2d", "pool2", t, kernel_size=3)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((2, 3)) / 1.5)
    b.output("y", t)
    return b.build(default=fmt)
