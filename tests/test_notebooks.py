"""Numbered notebooks agree with their text copies and run top to bottom."""

import importlib.util
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"
_spec = importlib.util.spec_from_file_location("sync", NOTEBOOKS / "sync.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)

PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_every_notebook_has_a_text_copy():
    assert PAIRS, "no numbered notebooks found"
    for nb in PAIRS:
        assert nb.with_suffix(".py").exists(), nb.name


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_notebook_matches_text_copy(path):
    stored = nbformat.read(path, as_version=4)
    expected = sync.notebook_from_text(path.with_suffix(".py").read_text())
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in expected.cells
    ], f"{path.name} is out of date: run python notebooks/sync.py"


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "cross_entropy" in text and "hash" in text
