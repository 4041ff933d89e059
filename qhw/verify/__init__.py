"""Verification: shared test vectors, cached Verilator builds, the C++ stream harness, cocotb
testbenches, exhaustive sweeps of unary blocks; ``verify(graph, n=...)`` end to end."""
from qhw.verify.run import simulate_out, verify
from qhw.verify.stream import SimResult
from qhw.verify.vectors import read_vectors, write_vectors

__all__ = ["verify", "simulate_out", "SimResult", "read_vectors", "write_vectors"]
