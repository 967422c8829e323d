"""``hivejax bench WORKLOAD``: each workload takes only its own flags, the older spellings
still work, and a baseline that cannot run says what to install before anything runs."""

import pytest

from hivejax._src.bench import baselines
from hivejax.cli.bench import WORKLOADS, normalise
from hivejax.cli.main import main


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["bench", "--workload", "memory", "--steps", "2"], ["bench", "memory", "--steps", "2"]),
        (["bench", "--steps", "2", "--workload=search"], ["bench", "search", "--steps", "2"]),
        (["bench", "--population", "8"], ["bench", "throughput", "--population", "8"]),
        (["bench"], ["bench", "throughput"]),
        (["bench", "device", "--repeats", "1"], ["bench", "device", "--repeats", "1"]),
        (["bench", "--help"], ["bench", "--help"]),
        (["evolve", "--workload", "x"], ["evolve", "--workload", "x"]),
    ],
)
def test_older_spellings_become_subcommands(argv, expected):
    assert normalise(argv) == expected


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["bench", "search", "--interpreter", "select"], "--interpreter"),
        (["bench", "--workload", "search", "--devices", "all"], "--devices"),
        (["bench", "--generations", "3"], "--generations"),  # plain bench: throughput
        (["bench", "memory", "--baseline"], "--baseline"),
        (["bench", "ranking", "--population", "8"], "--population"),
        (["bench", "device", "--json"], "--json"),
    ],
)
def test_a_flag_of_another_workload_is_refused_by_argparse(capsys, argv, flag):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("hivejax: error:") and err.count("\n") == 1
    assert "unrecognized arguments" in err and flag in err


def test_every_workload_has_its_own_help(capsys):
    for workload in WORKLOADS:
        with pytest.raises(SystemExit):
            main(["bench", workload, "--help"])
        assert capsys.readouterr().out.startswith(f"usage: hivejax bench {workload}")


def test_a_missing_baseline_says_what_to_install_before_anything_runs(capsys, monkeypatch):
    # Whether or not torch and deap are installed here, one module the baseline needs is not.
    monkeypatch.setitem(baselines.NEEDS, "deap_torch.py", ("torch", "deap", "no_such_module"))
    code = main(["bench", "throughput", "--baseline", "--dataset", "npz:/no/such/file.npz"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "no_such_module" in err and "pip install 'hivejax[bench]'" in err
