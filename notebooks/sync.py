"""Write each numbered notebook's .ipynb from its text copy (percent format).

The .py copy is the one to edit and review; run ``python notebooks/sync.py`` after editing.
The test suite checks that both copies agree and executes the .ipynb.
"""

import pathlib
import sys

import nbformat

HERE = pathlib.Path(__file__).parent


def cells_from_text(text: str) -> list[tuple[str, str]]:
    """Split a percent-format script into ``(kind, source)`` cells."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        out.append((kind, "\n".join(lines).strip("\n")))
    return out


def notebook_from_text(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](source) for kind, source in cells_from_text(text)]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def main() -> int:
    for script in sorted(HERE.glob("[0-9][0-9]_*.py")):
        nbformat.write(notebook_from_text(script.read_text()), script.with_suffix(".ipynb"))
        print(f"wrote {script.with_suffix('.ipynb').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
