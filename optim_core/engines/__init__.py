"""Engines turn a RunSpec into a Trajectory: Numba on the CPU, torch on a GPU (or CPU)."""

from ._heap import keep_heap_top

keep_heap_top()
