"""Figures of runs, programs and local subnets, as PNG files (the ``[plots]`` extra)."""
