"""``hivejax plot``: the figures of a real tiny run and of a local subnet's chain, what the
function shapes mean, and one-line errors."""

import json
import shutil
import struct
import sys

import numpy as np
import pytest
from toy import TOY_FLAGS

from hivejax._src.io.program_io import respec
from hivejax._src.plotting import figures
from hivejax._src.plotting.functions import CLASSES, curves, plot_program
from hivejax._src.plotting.runs import operator_totals, plot_run
from hivejax._src.subnet import rules
from hivejax._src.subnet.local_chain import LocalChain
from hivejax._src.tasks.loss import DERIVED_SPEC
from hivejax._src.tasks.registry import builtin, builtin_spec
from hivejax.cli.main import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_png(path):
    """A PNG of a sensible size in pixels, with more in it than a blank canvas."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    assert 300 <= width <= 4000 and 200 <= height <= 4000, (path, width, height)
    assert len(data) > 20_000, (path, len(data))  # a blank 1200 x 480 canvas is ~5 kB


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny loss run, seeded with two builtins so that some programs train."""
    out = tmp_path_factory.mktemp("plot") / "run"
    # The toy run's shapes, so its compiled steps are reused.
    argv = ["evolve", *TOY_FLAGS, "--out", str(out)]
    assert main([*argv, "--seed-programs", "builtin:cross_entropy", "builtin:mse"]) == 0
    return out


def test_plot_a_run(capsys, run):
    code, out, err = run_cli(capsys, "plot", str(run))
    assert code == 0, err
    names = ["progress.png", "operators.png", "front.png", "function.png"]
    assert out.strip() == f"wrote {run / 'plots'}/{', '.join(names)}"
    for name in names:
        assert_png(run / "plots" / name)


def test_a_run_in_progress_has_only_its_progress(run, tmp_path):
    # Before summary.json and best.json, while the last line is still being written.
    shutil.copy(run / "metrics.jsonl", tmp_path / "metrics.jsonl")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"generation": 2, "best_acc')
    names = ["progress.png", "operators.png"]
    assert plot_run(tmp_path, tmp_path / "out") == [tmp_path / "out" / n for n in names]
    for name in names:
        assert_png(tmp_path / "out" / name)


def test_operator_totals_sum_the_generations(run):
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    totals = operator_totals(lines)
    bred = sum(row["bred"] for m in lines for row in m["operators"].values())
    assert sum(t["bred"] for t in totals.values()) == bred > 0
    assert totals["initial"]["improved"] == 0  # a fresh program has no parent to beat
    assert operator_totals([{"generation": 0}]) == {}  # a run from before operators counted


def test_loss_shape_is_the_loss_that_trains():
    # Cross-entropy at margin m over 10 classes: log(1 + 9 e^-m), slope -(1 - p_true).
    x, ys = curves(builtin_spec("cross_entropy"), builtin("cross_entropy"))
    p_true = 1 / (1 + (CLASSES - 1) * np.exp(-x))
    np.testing.assert_allclose(ys["value"], -np.log(p_true), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ys["derivative"], -(1 - p_true), rtol=1e-4, atol=1e-6)
    # The derived-input layout (x, y, p, ls) is the same loss.
    derived = respec(builtin_spec("cross_entropy"), builtin("cross_entropy"), DERIVED_SPEC)
    _, same = curves(DERIVED_SPEC, derived)
    np.testing.assert_allclose(same["value"], ys["value"], rtol=1e-5, atol=1e-6)


def test_activation_and_optimizer_shapes(tmp_path):
    x, ys = curves(builtin_spec("leaky_relu"), builtin("leaky_relu"))
    np.testing.assert_allclose(ys["value"], np.where(x > 0, x, 0.01 * x), rtol=1e-6)
    off_kink = x != 0
    np.testing.assert_allclose(
        ys["derivative"][off_kink], np.where(x > 0, 1.0, 0.01)[off_kink], rtol=1e-6
    )
    g, updates = curves(builtin_spec("adam"), builtin("adam"))
    first = next(iter(updates.values()))  # zero slots, t = 1: Adam's first step is sign(g)
    np.testing.assert_allclose(first[np.abs(g) > 0.01], np.sign(g[np.abs(g) > 0.01]), rtol=1e-4)
    for name in ("gelu", "lion"):
        plot_program(builtin_spec(name), builtin(name), tmp_path / f"{name}.png")
        assert_png(tmp_path / f"{name}.png")


def test_plot_a_local_subnet(capsys, tmp_path):
    chain = LocalChain(tmp_path / "chain.sqlite", blocks_per_second=0.0)
    for i in range(3):
        chain.register(f"local/miner-{i}")
    chain.register("local/validator-0", stake=1.0, validator=True)
    chain.register("local/validator-1", stake=1.0, validator=True)
    chain.advance(100)
    chain.set_weights("local/validator-0", {0: 1.0, 1: 0.5})
    chain.set_weights("local/validator-1", {0: 1.0})
    chain.advance(rules.TEMPO)
    chain.set_weights("local/validator-0", {1: 1.0, 2: 1.0})
    chain.set_weights("local/validator-1", {1: 1.0})
    chain.advance(50)
    code, out, err = run_cli(capsys, "plot", str(tmp_path), "--out", str(tmp_path / "figs"))
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'figs'}/weights.png, emissions.png"
    for name in ("weights.png", "emissions.png"):
        assert_png(tmp_path / "figs" / name)


def test_a_subnet_without_weights_still_plots(tmp_path):
    chain = LocalChain(tmp_path / "chain.sqlite", blocks_per_second=0.0)
    chain.register("local/miner-0")
    paths = plot_run(tmp_path)
    assert [p.name for p in paths] == ["weights.png", "emissions.png"]
    assert all(p.parent == tmp_path / "plots" for p in paths)


def test_plot_errors_are_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text(json.dumps({"generation": 0}) + "\n")
    cases = [
        (tmp_path / "nowhere", "no such directory"),
        (tmp_path / "empty", "neither a run directory"),
    ]
    for directory, message in cases:
        code, _, err = run_cli(capsys, "plot", str(directory))
        assert code == 1 and message in err and str(directory) in err, err
        assert err.startswith("hivejax: error:") and err.count("\n") == 1
    # Without matplotlib: what to install, and nothing written.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, _, err = run_cli(capsys, "plot", str(tmp_path / "run"))
    assert code == 1 and err.strip() == f"hivejax: error: {figures.MISSING}"
    assert not (tmp_path / "run" / "plots").exists()
