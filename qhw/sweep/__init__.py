"""Bit-width sweeps: a grid of configurations evaluated in parallel (golden-model accuracy vs
float, analytic and optionally Yosys resources), resumable, with the Pareto front; and a greedy
search for a cheap configuration within an error budget."""
from qhw.sweep.pareto import pareto_front, plot
from qhw.sweep.point import Problem, evaluate
from qhw.sweep.runner import RESULTS, read_results, run_sweep
from qhw.sweep.search import search, versus_grid
from qhw.sweep.space import configure, grid, load_grid, parse_range, point_id, width_value

__all__ = ["Problem", "evaluate", "run_sweep", "read_results", "RESULTS", "pareto_front", "plot",
           "search", "versus_grid", "configure", "grid", "load_grid", "parse_range", "point_id",
           "width_value"]
