"""Locating and running external tools (g++, ap_types headers, Verilator, Yosys)."""
