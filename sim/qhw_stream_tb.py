"""cocotb testbench for a qhw streaming top (AXI-Stream in/out, one sample per beat).

Environment: QHW_DESIGN (design.json), QHW_VECTORS (folder with input.txt), QHW_GAP and
QHW_STALL (probabilities of an idle input cycle / a deasserted m_axis_tready), QHW_ACTUAL (file
the received output codes are written to, same format as expected.txt), QHW_RESULT (JSON
summary). The comparison with expected.txt is done by the caller (qhw.verify.stream).
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


def _pack(codes, layout):
    word, e = 0, 0
    for t in layout:
        mask = (1 << t["width"]) - 1
        for k in range(t["elements"]):
            word |= (int(codes[e]) & mask) << (t["lo"] + k * t["width"])
            e += 1
    return word


def _unpack(word, layout):
    out = []
    for t in layout:
        w = t["width"]
        for k in range(t["elements"]):
            v = (word >> (t["lo"] + k * w)) & ((1 << w) - 1)
            if t["signed"] and v >> (w - 1):
                v -= 1 << w
            out.append(v)
    return out


@cocotb.test()
async def stream_vectors(dut):
    design = json.loads(Path(os.environ["QHW_DESIGN"]).read_text())
    rows = [ln.split() for ln in (Path(os.environ["QHW_VECTORS"]) / "input.txt").read_text().splitlines() if ln.strip()]
    gap, stall = float(os.environ.get("QHW_GAP", 0)), float(os.environ.get("QHW_STALL", 0))
    rng = random.Random(int(os.environ.get("COCOTB_RANDOM_SEED", 1)))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tlast.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    received, sent, cycles = [], 0, 0
    driving = False
    limit = (len(rows) + 10) * (design["ii"] + design["latency"] + 10) * 100
    while len(received) < len(rows) and cycles < limit:
        if not driving and sent < len(rows) and rng.random() >= gap:
            dut.s_axis_tdata.value = _pack(rows[sent], design["inputs"])
            dut.s_axis_tlast.value = int(sent + 1 == len(rows))
            driving = True
        dut.s_axis_tvalid.value = int(driving)
        dut.m_axis_tready.value = int(rng.random() >= stall)
        await ReadOnly()
        fire_in = driving and int(dut.s_axis_tready.value) == 1
        if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
            received.append(_unpack(int(dut.m_axis_tdata.value), design["outputs"]))
        await RisingEdge(dut.clk)
        cycles += 1
        if fire_in:
            sent += 1
            driving = False
    Path(os.environ["QHW_ACTUAL"]).write_text("".join(" ".join(map(str, r)) + "\n" for r in received))
    Path(os.environ["QHW_RESULT"]).write_text(json.dumps({"cycles": cycles, "received": len(received),
                                                          "sent": sent}))
