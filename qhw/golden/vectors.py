"""Test vectors shared by every backend (the HLS testbench reads the same files): seeded raw
inputs and the golden model's outputs for them, and their file format.

Format (``OUT/vectors/input.txt`` and ``OUT/vectors/expected.txt``): one sample per line,
space-separated signed decimal RAW codes in flattened row-major, channels-last order; several
graph inputs (outputs) are concatenated on the line in graph order (``graph.input_names`` /
``graph.output_names``). Codes are in each tensor's result format (``FixedFormat`` raw codes:
sign-extended for signed formats, 0..2**W-1 for unsigned ones).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qhw.golden import check_batch, run_raw

INPUT_FILE = "input.txt"
EXPECTED_FILE = "expected.txt"


def flatten_samples(arrays: list[np.ndarray]) -> np.ndarray:
    """(n, total) int64: each (n, ...) array flattened per sample and concatenated."""
    n = arrays[0].shape[0]
    return np.concatenate([np.asarray(a, np.int64).reshape(n, -1) for a in arrays], axis=1)


def write_matrix(path: os.PathLike, rows: np.ndarray) -> None:
    rows = np.asarray(rows, np.int64)
    np.savetxt(path, rows.reshape(rows.shape[0], -1), fmt="%d", delimiter=" ")


def read_matrix(path: os.PathLike) -> np.ndarray:
    """(n, elements) int64 from a vector file (an empty file gives (0, 0))."""
    text = Path(path).read_text().split("\n")
    rows = [ln.split() for ln in text if ln.strip()]
    if not rows:
        return np.zeros((0, 0), np.int64)
    return np.array(rows, dtype=np.int64)


def write_vectors(out_dir: os.PathLike, inputs: list[np.ndarray], expected: list[np.ndarray]) -> Path:
    """Write ``out_dir/input.txt`` and ``out_dir/expected.txt``; returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_matrix(out / INPUT_FILE, flatten_samples(inputs))
    write_matrix(out / EXPECTED_FILE, flatten_samples(expected))
    return out


def read_vectors(out_dir: os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, expected) as (n, elements) int64 matrices."""
    out = Path(out_dir)
    return read_matrix(out / INPUT_FILE), read_matrix(out / EXPECTED_FILE)


def random_inputs(graph, n: int, seed: int = 0, edges: bool = True) -> dict[str, np.ndarray]:
    """Raw input codes: random, plus each input's extremes (min, max, 0) when ``edges``."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.input_names:
        node = graph.node(name)
        fmt, shape = node.formats["result"], tuple(node.shape)
        raw = rng.integers(fmt.raw_min, fmt.raw_max, size=(n,) + shape, endpoint=True)
        if edges and n >= 3:
            raw[0], raw[1], raw[2] = fmt.raw_min, fmt.raw_max, 0
        out[name] = raw
    return out


def golden_vectors(graph, n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seeded random raw inputs plus edge samples (every element at min, at max, at 0, and
    alternating min/max) and the golden model's raw outputs for them."""
    check_batch(graph, n)  # before the random inputs are drawn
    raw = random_inputs(graph, n, seed=seed)
    for name, a in raw.items():
        fmt = graph.node(name).formats["result"]
        if n >= 4:
            flat = a.reshape(n, -1)
            flat[3] = np.where(np.arange(flat.shape[1]) % 2 == 0, fmt.raw_min, fmt.raw_max)
    res = run_raw(graph, raw)
    return ([raw[k] for k in graph.input_names], [res.outputs[k] for k in graph.output_names])
