"""Models and generators for tests, examples and benchmarks."""
