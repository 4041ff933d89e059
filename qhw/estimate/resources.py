"""`Resources`: what a design costs on an FPGA, as one immutable value."""
from __future__ import annotations

from dataclasses import asdict, dataclass

SOURCES = ("analytic", "yosys-xilinx", "yosys-ecp5", "yosys-ice40")


@dataclass(frozen=True)
class Resources:
    """Resource counts of one design for one target family.

    lut: logic LUTs (Xilinx LUT1..LUT6 plus LUTs used as shift registers / distributed RAM;
        ECP5 LUT4 plus 2 per CCU2C carry cell, which occupies two LUT4 sites; iCE40 SB_LUT4).
    ff: flip-flops (Xilinx FD*, ECP5 TRELLIS_FF, iCE40 SB_DFF*).
    dsp: DSP blocks (Xilinx DSP48E1, ECP5 MULT18X18D, iCE40 SB_MAC16).
    bram: block RAMs in the target's native unit: Xilinx 18 Kb halves (a RAMB36E1 counts 2, a
        RAMB18E1 counts 1), ECP5 DP16KD (18 Kb), iCE40 SB_RAM40_4K (4 Kb).
    carry: carry-chain cells (Xilinx CARRY4 = 4 bits, ECP5 CCU2C = 2 bits, iCE40 SB_CARRY = 1 bit).
    source: who produced the numbers: "analytic" or "yosys-<target>".
    fmax_mhz: post place-and-route maximum clock frequency (MHz), when place-and-route ran.
    """

    lut: int
    ff: int
    dsp: int = 0
    bram: int = 0
    carry: int = 0
    source: str = "analytic"
    fmax_mhz: float | None = None

    def __post_init__(self) -> None:
        for name in ("lut", "ff", "dsp", "bram", "carry"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"Resources.{name} must be an int, got {v!r}")
            if v < 0:
                raise ValueError(f"Resources.{name} must be >= 0, got {v}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"Resources.source must be a non-empty string, got {self.source!r}")

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready); ``fmax_mhz`` is None unless place-and-route ran."""
        return asdict(self)
