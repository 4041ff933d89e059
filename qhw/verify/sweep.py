"""Exhaustive simulation of combinational blocks: every input code through one Verilated build.

Many blocks are checked at once by a wrapper that feeds the same input code ``x`` (its low bits)
to each block and concatenates their outputs into ``y``; :func:`sweep` returns every block's
outputs for every code, so one build checks many configurations.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from qhw.backends.verilog.render import render
from qhw.tools.proc import run as run_process
from qhw.verify.build import build_harness


@dataclass(frozen=True)
class Block:
    """One block under test: module name, input width (bits), output width (bits), whether the
    output is signed (for decoding) and whether its input is read as signed."""

    module: str
    in_width: int
    out_width: int
    out_signed: bool
    in_signed: bool


def wrapper_module(name: str, blocks: Sequence[Block], in_bits: int) -> tuple[str, list[int]]:
    """A wrapper driving every block from ``x`` and concatenating outputs (first block in the
    lowest bits); returns the text and each block's output bit offset."""
    offsets, off = [], 0
    for b in blocks:
        if b.in_width > in_bits:
            raise ValueError(f"block {b.module} needs {b.in_width} input bits > sweep {in_bits}")
        offsets.append(off)
        off += b.out_width
    text = render("sweep_wrapper.v.j2", name=name, blocks=list(zip(blocks, offsets)),
                  in_bits=in_bits, out_bits=off)
    return text, offsets


def input_codes(block: Block, in_bits: int) -> np.ndarray:
    """The raw input code each sweep step applies to ``block`` (low bits of the step number)."""
    c = np.arange(1 << in_bits, dtype=np.int64) & ((1 << block.in_width) - 1)
    if block.in_signed:
        c = np.where(c >= 1 << (block.in_width - 1), c - (1 << block.in_width), c)
    return c


def sweep(sources: Mapping[str, str], blocks: Sequence[Block], in_bits: int,
          top: str = "qhw_sweep") -> list[np.ndarray]:
    """Simulate every code of ``in_bits`` bits; each block's output codes (int64) per code."""
    text, offsets = wrapper_module(top, blocks, in_bits)
    out_bits = sum(b.out_width for b in blocks)
    words = (out_bits + 31) // 32
    harness = render("sweep_harness.cpp.j2", top=top, in_bits=in_bits, out_words=words)
    build = build_harness({**sources, f"{top}.v": text}, top, harness)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "y.bin"
        run_process([str(build.exe), str(out)], check=True)
        raw = np.fromfile(out, dtype="<u4").reshape(-1, words)
    return [extract(raw, off, b.out_width, b.out_signed) for b, off in zip(blocks, offsets)]


def extract(words: np.ndarray, offset: int, width: int, signed: bool) -> np.ndarray:
    """Bit field [offset, offset+width) of rows of little-endian 32-bit words, as int64."""
    if not 1 <= width <= 63:
        raise ValueError(f"field width must be 1..63 bits, got {width}")
    first, s = divmod(offset, 32)
    n = words.shape[1]

    def word(i: int) -> np.ndarray:
        if i < n:
            return words[:, i].astype(np.uint64)
        return np.zeros(words.shape[0], np.uint64)

    v = (word(first) | (word(first + 1) << np.uint64(32))) >> np.uint64(s)
    if s + width > 64:
        v |= word(first + 2) << np.uint64(64 - s)
    out = (v & np.uint64((1 << width) - 1)).astype(np.int64)
    if signed:
        out = np.where(out >= 1 << (width - 1), out - (1 << width), out)
    return out
