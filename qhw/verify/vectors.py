"""The shared test-vector files (moved to :mod:`qhw.golden.vectors`; kept importable here)."""
from qhw.golden.vectors import (EXPECTED_FILE, INPUT_FILE, flatten_samples, golden_vectors, random_inputs,
                                read_matrix, read_vectors, write_matrix, write_vectors)

__all__ = ["INPUT_FILE", "EXPECTED_FILE", "flatten_samples", "write_matrix", "read_matrix", "write_vectors",
           "read_vectors", "golden_vectors", "random_inputs"]
