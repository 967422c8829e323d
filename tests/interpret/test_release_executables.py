"""A process that runs search after search stays within its memory maps."""

import os
import pathlib

import pytest

import hivejax as hj
from hivejax.bench import solve_rate_config as run_config

MAPS = pathlib.Path(f"/proc/{os.getpid()}/maps")


def _maps() -> int:
    return len(MAPS.read_text().splitlines())


@pytest.mark.slow  # 27 s: two searches
@pytest.mark.skipif(not MAPS.exists(), reason="counts memory maps through Linux's /proc")
def test_release_executables_keeps_repeated_runs_flat(tmp_path):
    # Without the release each run adds its own executables' maps (about 700 for this
    # one), and some 90 runs would reach Linux's default vm.max_map_count.
    counts = []
    for seed in range(2):
        hj.evolve(run_config("nguyen-1", seed, 32, 2), tmp_path / str(seed))
        counts.append(_maps())
        hj.release_executables()
        counts.append(_maps())
    assert counts[1] < counts[0] - 200  # the release frees what the run compiled
    assert counts[3] <= counts[1] + 50  # and the next run leaves nothing behind
