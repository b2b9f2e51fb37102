"""Engines turn a RunSpec into a Trajectory: Numba on the CPU, torch on a GPU (or CPU)."""
