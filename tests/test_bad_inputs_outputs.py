"""Output folders and files (issue 14.2): qhw writes a new folder or replaces one it wrote itself,
refuses everything else without touching it, leaves no temporary folder on any failure path
(MemoryError and interrupts included), gives what it writes the user's umask, and stops every
child process it started when it is interrupted.

Every CLI case runs the real ``qhw`` as a subprocess through ``tests/bad_input_harness.py``. The
oracles are the file system itself (byte-for-byte snapshots, modes, ``/proc``) and the umask the
test sets, never values qhw computes.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bad_input_harness import REPO, assert_error, qhw_env, run_qhw, snapshot, unchanged
from qhw.io import save
from qhw.testing import models

JET = REPO / "examples" / "jet_mlp"
MARKER = ".qhw-output.json"


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """A small model in its own folder (with a file of the user's beside it) and a data batch."""
    d = tmp_path_factory.mktemp("small")
    model_dir = d / "model"
    model_dir.mkdir()
    save(models.mlp(widths=(6, 8, 3)), model_dir / "mlp.yaml")
    (model_dir / "notes.txt").write_text("the user's notes, not qhw's\n")
    np.save(d / "x.npy", np.random.default_rng(0).standard_normal((40, 6)))
    return {"root": d, "dir": model_dir, "model": model_dir / "mlp.yaml", "x": d / "x.npy"}


def compile_args(model: Path, out, *extra: str) -> list:
    return ["compile", model, "-o", out, "--backend", "rtl", "--vectors", "4", *extra]


def leftovers(folder: Path) -> list[str]:
    """Temporary files/folders qhw would have left beside its output."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- what -o refuses, untouched

def test_o_at_the_models_own_folder_is_refused(small):
    with unchanged(small["dir"]):
        r = run_qhw(compile_args(small["model"], small["dir"]), cwd=small["root"])
    assert_error(r, str(small["dir"]), "mlp.yaml")


def test_o_at_a_folder_that_contains_the_models_folder_is_refused(small, tmp_path):
    with unchanged(small["root"]):
        r = run_qhw(compile_args(small["model"], small["root"]), cwd=tmp_path)
    assert_error(r, str(small["root"]), "mlp.yaml")


def test_o_through_a_symlinked_parent_is_resolved_before_the_check(small, tmp_path):
    (tmp_path / "alias").symlink_to(small["root"], target_is_directory=True)
    with unchanged(small["dir"]):
        r = run_qhw(compile_args(small["model"], tmp_path / "alias" / "model"), cwd=tmp_path)
    assert_error(r, "alias", "mlp.yaml")


def test_o_that_is_a_symlink_is_refused(small, tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "target", target_is_directory=True)
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], tmp_path / "link"), cwd=tmp_path)
    assert_error(r, "link", "symbolic link")


@pytest.mark.parametrize("out", [".", "..", "sub/..", "/"])
def test_o_at_the_current_folder_or_a_parent_is_refused(small, tmp_path, out):
    cwd = tmp_path / "work"
    (cwd / "sub").mkdir(parents=True)
    (cwd / "mine.txt").write_text("the user's file")
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], out), cwd=cwd)
    assert_error(r, repr(out), "current folder")


def test_an_existing_folder_qhw_did_not_write_is_refused(small, tmp_path):
    out = tmp_path / "results"
    (out / "deep").mkdir(parents=True)
    (out / "thesis.tex").write_text("months of work")
    (out / "deep" / "data.bin").write_bytes(os.urandom(64))
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert_error(r, str(out), "not written by qhw")


def test_a_folder_with_a_forged_or_foreign_marker_is_refused(small, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / MARKER).write_text("not json")
    (out / "x.txt").write_text("x")
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert_error(r, str(out), "not written by qhw")


def test_a_folder_another_qhw_command_wrote_is_refused(small, tmp_path):
    out = tmp_path / "sweep"
    r = run_qhw(["sweep", small["model"], "--data", small["x"], "--weights", "4:5", "--workers", "1",
                 "-o", out], cwd=tmp_path)
    assert r.returncode == 0, str(r)
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert_error(r, str(out), "qhw sweep")


def test_o_an_existing_file_is_refused(small, tmp_path):
    (tmp_path / "out").write_text("a file of the user's")
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], tmp_path / "out"), cwd=tmp_path)
    assert_error(r, str(tmp_path / "out"), "not a folder")


def test_o_whose_parent_is_a_file_is_refused(small, tmp_path):
    (tmp_path / "plain").write_text("a file")
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], tmp_path / "plain" / "out"), cwd=tmp_path)
    assert_error(r, str(tmp_path / "plain" / "out"), "is a file")


def test_o_with_a_name_too_long_is_refused(small, tmp_path):
    out = tmp_path / ("n" * 300)
    with unchanged(tmp_path):
        r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert_error(r, "n" * 300, "too long")


def test_o_where_nothing_can_be_created_is_refused(small, tmp_path):
    # procfs refuses new entries even to root (a read-only parent does not stop root)
    r = run_qhw(compile_args(small["model"], "/proc/qhw-out"), cwd=tmp_path)
    assert_error(r, "/proc/qhw-out")
    assert not os.path.exists("/proc/qhw-out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway; the "
                    "root-proof cases are a parent that is a file, a name too long and /proc")
def test_o_in_a_read_only_folder_is_refused(small, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with unchanged(tmp_path):
            r = run_qhw(compile_args(small["model"], ro / "out"), cwd=tmp_path)
        assert_error(r, str(ro / "out"), "ermission denied")
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------- what -o writes, and how

def test_an_empty_folder_is_used_and_marked(small, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert r.returncode == 0, str(r)
    assert json.loads((out / MARKER).read_text())["command"] == "compile"
    assert (out / "rtl").is_dir() and (out / "report.json").is_file()
    assert leftovers(tmp_path) == []


def test_a_qhw_output_is_replaced_whole_and_a_rerun_is_byte_identical(small, tmp_path):
    out = tmp_path / "out"
    args = ["compile", small["model"], "-o", out, "--vectors", "4"]
    assert run_qhw(args, cwd=tmp_path).returncode == 0
    first = snapshot(out)
    assert run_qhw(args, cwd=tmp_path).returncode == 0
    assert snapshot(out) == first  # contents and modes
    # replaced as a whole: what the new run does not write is gone
    r = run_qhw(compile_args(small["model"], out), cwd=tmp_path)
    assert r.returncode == 0, str(r)
    assert not (out / "hls").exists() and (out / "rtl").is_dir()
    assert leftovers(tmp_path) == []


@pytest.fixture
def umask_027():
    old = os.umask(0o027)  # inherited by the qhw subprocess
    yield 0o027
    os.umask(old)


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield 0o002
    os.umask(old)


@pytest.mark.parametrize("mask", ["umask_027", "umask_002"])
def test_everything_written_gets_the_users_umask(small, tmp_path, mask, request):
    umask = request.getfixturevalue(mask)
    out, sw, y = tmp_path / "out", tmp_path / "sweep", tmp_path / "y.npy"
    assert run_qhw(["compile", small["model"], "-o", out, "--vectors", "4"], cwd=tmp_path).returncode == 0
    assert run_qhw(["sweep", small["model"], "--data", small["x"], "--weights", "4:5",
                    "--workers", "1", "-o", sw], cwd=tmp_path).returncode == 0
    assert run_qhw(["predict", small["model"], "--input", small["x"], "--output", y],
                   cwd=tmp_path).returncode == 0
    wrong = []
    for root in (out, sw, y):
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for p in paths:
            want = (0o777 if p.is_dir() else 0o666) & ~umask
            if stat.S_IMODE(p.stat().st_mode) != want:
                wrong.append(f"{p.relative_to(tmp_path)}: {oct(stat.S_IMODE(p.stat().st_mode))} "
                             f"instead of {oct(want)}")
    assert not wrong, wrong
    assert out / "model.yaml" in out.rglob("*")  # the copied model too


# --------------------------------------------------------------------------- single files

def test_predict_output_that_is_a_folder_is_refused(small, tmp_path):
    (tmp_path / "y.npy").mkdir()
    (tmp_path / "y.npy" / "keep").write_text("keep")
    with unchanged(tmp_path):
        r = run_qhw(["predict", small["model"], "--input", small["x"], "--output", tmp_path / "y.npy"])
    assert_error(r, str(tmp_path / "y.npy"), "folder")


def test_predict_output_over_its_own_input_is_refused(small):
    with unchanged(small["root"]):
        r = run_qhw(["predict", small["model"], "--input", small["x"], "--output", small["x"]])
    assert_error(r, str(small["x"]), "input")


def test_predict_output_whose_parent_is_a_file_is_refused(small, tmp_path):
    (tmp_path / "f").write_text("a file")
    with unchanged(tmp_path):
        r = run_qhw(["predict", small["model"], "--input", small["x"], "--output",
                     tmp_path / "f" / "y.npy"])
    assert_error(r, str(tmp_path / "f" / "y.npy"), "is a file")


def test_predict_output_replaces_a_regular_file_and_keeps_its_mode(small, tmp_path):
    y = tmp_path / "y.npy"
    y.write_text("old")
    y.chmod(0o604)
    r = run_qhw(["predict", small["model"], "--input", small["x"], "--output", y])
    assert r.returncode == 0, str(r)
    assert np.load(y).shape == (40, 3)
    assert stat.S_IMODE(y.stat().st_mode) == 0o604
    assert leftovers(tmp_path) == []


def test_inspect_draw_into_a_folder_is_refused(small, tmp_path):
    (tmp_path / "g.png").mkdir()
    with unchanged(tmp_path):
        r = run_qhw(["inspect", small["model"], "--draw", tmp_path / "g.png"])
    assert_error(r, str(tmp_path / "g.png"), "folder")


def test_simulate_does_not_clear_a_sim_folder_qhw_did_not_write(small, tmp_path):
    out = tmp_path / "out"
    assert run_qhw(compile_args(small["model"], out), cwd=tmp_path).returncode == 0
    (out / MARKER).unlink()  # as if the user had assembled this folder
    (out / "sim").mkdir()
    (out / "sim" / "my_waves.vcd").write_text("the user's")
    with unchanged(tmp_path):
        r = run_qhw(["simulate", out], cwd=tmp_path)
    assert_error(r, str(out / "sim"), "not written by qhw")


# ------------------------------------------------------------------------------------ sweep

def test_sweep_refuses_the_current_folder_and_foreign_folders(small, tmp_path):
    (tmp_path / "mine.txt").write_text("the user's")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "results.csv").write_text("id,status\nfoo,ok\n")
    (tmp_path / "res" / "paper.tex").write_text("keep")
    base = ["sweep", small["model"], "--data", small["x"], "--weights", "4:5", "--workers", "1", "-o"]
    with unchanged(tmp_path):
        assert_error(run_qhw([*base, "."], cwd=tmp_path), "'.'", "current folder")
        assert_error(run_qhw([*base, "res"], cwd=tmp_path), "'res'", "paper.tex")
        assert_error(run_qhw([*base, small["dir"]], cwd=tmp_path), str(small["dir"]), "mlp.yaml")


def test_sweep_folder_resumes_without_redoing_anything(small, tmp_path):
    out, log = tmp_path / "sw", tmp_path / "evaluated.log"
    args = ["sweep", small["model"], "--data", small["x"], "--weights", "4:6", "--workers", "1",
            "-o", out]
    r = run_qhw(args, cwd=tmp_path, env={"QHW_SWEEP_LOG": str(log)})
    assert r.returncode == 0, str(r)
    assert len(log.read_text().split()) == 3
    results = (out / "results.csv").read_bytes()
    r = run_qhw(args, cwd=tmp_path, env={"QHW_SWEEP_LOG": str(log)})
    assert r.returncode == 0, str(r)
    assert len(log.read_text().split()) == 3  # nothing evaluated again
    assert (out / "results.csv").read_bytes() == results
    # a folder of an older qhw (its own files only, no marker) is resumed and marked
    (out / MARKER).unlink()
    r = run_qhw(args, cwd=tmp_path, env={"QHW_SWEEP_LOG": str(log)})
    assert r.returncode == 0, str(r)
    assert len(log.read_text().split()) == 3 and (out / MARKER).is_file()


# ------------------------------------------------------- failures and interrupts leave nothing

def test_memory_error_leaves_no_temporary_folder_and_the_old_output(small, tmp_path):
    out = tmp_path / "out"
    assert run_qhw(compile_args(small["model"], out), cwd=tmp_path).returncode == 0
    with unchanged(tmp_path):
        # 4e8 vectors of 6 int64 ask for ~19 GB inside the temporary folder's lifetime
        r = run_qhw(compile_args(small["model"], out)[:-2] + ["--vectors", "400000000"],
                    cwd=tmp_path, memory_mb=1536, env={"QHW_MAX_VECTORS": str(10 ** 9)})
    assert r.returncode != 0, str(r)


@pytest.mark.parametrize("exc", [MemoryError, KeyboardInterrupt])
def test_api_compile_failing_inside_the_folder_leaves_the_old_output(tmp_path, monkeypatch, exc):
    from qhw.flow import compile as compile_mod

    g = models.mlp(widths=(6, 8, 3))
    out = tmp_path / "out"
    compile_mod.compile_graph(g, out, ("rtl",), n_vectors=2)

    def boom(*a, **k):
        raise exc()

    monkeypatch.setattr(compile_mod, "write_vectors", boom)
    with unchanged(tmp_path), pytest.raises(exc):
        compile_mod.compile_graph(g, out, ("rtl",), n_vectors=2)


def _children(pid: int) -> dict[int, str]:
    """Every process below ``pid``: pid -> its start time (so a reused pid is not mistaken)."""
    parent, start = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2:].split()
        parent[int(entry)], start[int(entry)] = int(fields[1]), fields[19].decode()
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier}
        found.update({p: start[p] for p in frontier})
    return found


def _alive(procs: dict[int, str]) -> list[str]:
    alive = []
    for pid, started in procs.items():
        try:
            raw = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2:].split()
        if fields[19].decode() == started and fields[0] != b"Z":
            alive.append(f"{pid} {raw[:raw.rindex(b')') + 1].decode(errors='replace')}")
    return alive


def _interrupt(args: list, sig: int, ready, cwd: Path, env: dict | None = None,
               timeout: float = 90) -> tuple[subprocess.CompletedProcess, dict[int, str], float]:
    """Start ``qhw ARGS``, send ``sig`` once ``ready(children)`` holds; (result, the processes
    below qhw at that moment, seconds from the signal to qhw's exit)."""
    proc = subprocess.Popen([sys.executable, "-m", "qhw", *map(str, args)], cwd=cwd,
                            env=qhw_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            kids = _children(proc.pid)
            if ready(kids):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate()
                pytest.fail(f"qhw {args} never got to the point to interrupt (exit "
                            f"{proc.returncode}): {err[-2000:]}")
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.3)  # let the killed children's exit be seen in /proc
    return subprocess.CompletedProcess(args, proc.returncode, out, err), kids, took


def _interrupted(res: subprocess.CompletedProcess, sig: int) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 128 + sig, (res.returncode, res.stderr)
    assert [ln for ln in res.stderr.splitlines() if ln.strip()] == ["qhw: error: interrupted"], res.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_compile_leaves_no_temporary_folder_and_the_old_output(tmp_path, sig):
    out = tmp_path / "out"
    assert run_qhw(["compile", JET / "model.yaml", "-o", out, "--backend", "rtl", "--vectors", "4"],
                   cwd=tmp_path).returncode == 0
    before = snapshot(tmp_path)

    def building(_kids) -> bool:  # the temporary folder exists: the moment that matters
        return any(p.name.startswith(".out.") for p in tmp_path.iterdir())

    res, _, took = _interrupt(["compile", JET / "model.yaml", "-o", out, "--backend", "rtl",
                               "--vectors", "300000"], sig, building, tmp_path)
    _interrupted(res, sig)
    assert took < 10, took
    assert snapshot(tmp_path) == before, leftovers(tmp_path)


@pytest.fixture(scope="module")
def jet_hls(tmp_path_factory) -> Path:
    from qhw.io import load_model
    from qhw.verify.compile import compile_graph

    out = tmp_path_factory.mktemp("jet") / "out"
    compile_graph(load_model(JET / "model.yaml"), out, ("hls",), n_vectors=4)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_hls_simulation_stops_its_compiler(jet_hls, tmp_path, sig):
    from qhw.tools.ap_types import hls4ml_templates_dir

    # a cache of its own, so g++ really runs (ap_types headers shared: no download)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "hls4ml").symlink_to(hls4ml_templates_dir().parent.parent, target_is_directory=True)
    before = snapshot(jet_hls)

    def compiling(kids) -> bool:
        names = [Path(f"/proc/{p}/comm").read_text().strip() for p in kids
                 if Path(f"/proc/{p}/comm").exists()]
        return any(n.startswith("cc1plus") for n in names)

    res, kids, took = _interrupt(["simulate", jet_hls, "--backend", "hls"], sig, compiling,
                                 tmp_path, env={"QHW_CACHE_DIR": str(cache)})
    _interrupted(res, sig)
    assert took < 10, took
    assert kids and not _alive(kids), _alive(kids)
    assert [p.name for p in (cache / "gxx").iterdir()] == []  # no half build, no temp folder
    assert snapshot(jet_hls) == before


def test_interrupted_sweep_stops_its_workers_and_resumes(small, tmp_path):
    out, log = tmp_path / "sw", tmp_path / "evaluated.log"
    args = ["sweep", small["model"], "--data", small["x"], "--weights", "3:12", "--activations",
            "6:12", "--workers", "2", "-o", out]

    def working(kids) -> bool:
        return len(kids) >= 2 and log.is_file() and len(log.read_text().split()) >= 4

    res, kids, took = _interrupt(args, signal.SIGTERM, working, tmp_path,
                                 env={"QHW_SWEEP_LOG": str(log)})
    _interrupted(res, signal.SIGTERM)
    assert took < 10, took
    assert kids and not _alive(kids), _alive(kids)
    rows = (out / "results.csv").read_text().splitlines()
    done = {ln.split(",")[0] for ln in rows[1:]}
    r = run_qhw(args, cwd=tmp_path, env={"QHW_SWEEP_LOG": str(tmp_path / "second.log")})
    assert r.returncode == 0, str(r)
    again = set((tmp_path / "second.log").read_text().split())
    assert not again & done  # a finished point is never evaluated again
    assert len(again | done) == 70


# --------------------------------------------------------------- qhw.tools.proc.run itself

def test_run_matches_subprocess_run():
    from qhw.tools.proc import run

    for args, kw in [(["sh", "-c", "echo out; echo err >&2; exit 3"], dict(capture_output=True, text=True)),
                     (["cat"], dict(input=b"bytes in", capture_output=True)),
                     (["sh", "-c", "pwd"], dict(capture_output=True, text=True, cwd="/"))]:
        want, got = subprocess.run(args, **kw), run(args, **kw)
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    with pytest.raises(subprocess.CalledProcessError):
        run(["false"], check=True)


def test_run_timeout_kills_the_whole_process_group():
    from qhw.tools.proc import run

    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        # the shell's child (a grandchild of ours) would outlive a plain subprocess.run timeout
        run(["sh", "-c", "sleep 60 & echo $!; wait"], capture_output=True, text=True, timeout=0.5)
    assert time.monotonic() - t0 < 5
    grandchild = int(info.value.stdout.split()[0])
    time.sleep(0.2)
    assert _gone(grandchild)


def _gone(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return raw[raw.rindex(b")") + 2:].split()[0] == b"Z"  # dead, not yet reaped


def _worker_running_a_tool() -> None:
    from qhw.tools.proc import run, worker_signals

    worker_signals()
    run(["sleep", "60"])  # a stand-in for the Yosys run of a --synth sweep point


def test_a_pool_worker_stopped_by_sigterm_stops_its_own_children():
    import multiprocessing

    worker = multiprocessing.get_context("fork").Process(target=_worker_running_a_tool)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not (kids := _children(worker.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kids, "the worker never started its child"
        os.kill(worker.pid, signal.SIGTERM)  # what the sweep's pool does on an interrupt
        worker.join(10)
        assert worker.exitcode == 128 + signal.SIGTERM
        time.sleep(0.2)
        assert all(_gone(pid) for pid in kids), _alive(kids)
    finally:
        if worker.is_alive():
            worker.kill()
