"""Numbered notebooks agree with their jupytext text copies and run top to bottom, with
their figures inline.

They run at toy size: each notebook shrinks its sizes when ``HIVEJAX_NOTEBOOK_TOY`` is set
(a cell near its top says so), and the kernel inherits the session's environment, its
persistent compilation cache included (conftest.py).
"""

import pathlib

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

# Per notebook: the figures it shows at least, and text its outputs must hold.
EXPECTED = {
    "01_loss_search": (3, ["cross_entropy", "hash", "re-scored"]),
    "02_activation_and_optimizer": (4, ["activation:", "optimizer:", "found"]),
    "03_local_subnet": (2, ["local/miner-0", "emissions"]),
    "04_scaling": (0, ["CpuDevice(id=7)", "devices: 8", "identical accuracies", "islands"]),
}
# Their compiling is most of their time: 01 and 02 load what the same toy runs in
# tests/run/test_engine.py (and tests/cli/test_cli.py) compiled, when those ran first;
# 03 starts three neuron processes; 04 compiles for eight devices. The default suite runs 01.
SLOW = {"02_activation_and_optimizer", "03_local_subnet", "04_scaling"}


def _params():
    return [
        pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else [])
        for p in PAIRS
    ]


def test_every_notebook_has_a_text_copy_and_expectations():
    assert PAIRS, "no numbered notebooks found"
    for nb in PAIRS:
        assert nb.with_suffix(".py").exists(), nb.name
    assert {p.stem for p in PAIRS} == set(EXPECTED)


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_notebook_matches_text_copy(path):
    stored = nbformat.read(path, as_version=4)
    expected = jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in expected.cells
    ], f"{path.name} is out of date: run jupytext --sync notebooks/*.py"
    assert not [c for c in stored.cells if c.get("outputs")], "commit notebooks without outputs"


@pytest.mark.parametrize("path", _params())
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HIVEJAX_NOTEBOOK_TOY", "1")  # the kernel inherits it
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures, strings = EXPECTED[path.stem]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= figures
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    for s in strings:
        assert s in text, s
