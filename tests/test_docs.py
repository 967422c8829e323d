"""The documentation cannot go stale silently: no JAX, under a second.

- ``docs/architecture.md``'s tree has a line for every module under ``hivejax/`` and
  ``kernels/`` and every script in ``bench/``, and every ``.py`` it names exists. A folder's
  line stands for its ``__init__.py`` when that holds only a docstring.
- No tracked text file names a file outside the repository: the shared folder beside the
  checkout, or the design and style notes kept there (``OUTSIDE``).
"""

import ast
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOCUMENTED = ("hivejax", "kernels", "bench")  # folders whose every .py has a line
TREE_CHARS = " │├└─"
INDENT = 4  # "├── " and "│   " are four characters wide
# Spelled in pieces, so that this file does not name them itself.
OUTSIDE = re.compile(
    "|".join(re.escape(n) for n in ("shared" + "/", "DESIGN" + ".md", "STYLE" + ".md"))
)


def _tree_paths(text: str) -> set[str]:
    """The paths in the tree block under '## The tree', folders ending in '/'."""
    section = text.split("## The tree", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    paths, stack = set(), []
    for line in block.splitlines():
        name_at = len(line) - len(line.lstrip(TREE_CHARS))
        if name_at == len(line):
            continue
        depth, name = name_at // INDENT, line[name_at:].split()[0]
        assert name_at % INDENT == 0 and depth <= len(stack), f"misaligned tree line: {line!r}"
        del stack[depth:]
        path = "".join(stack) + name
        paths.add(path)
        if name.endswith("/"):
            stack.append(name)
    return paths


def _docstring_only(path: pathlib.Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    only = body[0] if len(body) == 1 else None
    return isinstance(only, ast.Expr) and isinstance(getattr(only.value, "value", None), str)


def _modules() -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for folder in DOCUMENTED
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_every_module_has_a_line_in_the_architecture_tree():
    listed = _tree_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    missing = []
    for module in sorted(_modules()):
        path = ROOT / module
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        if module in listed:
            continue
        if path.name == "__init__.py" and folder in listed and _docstring_only(path):
            continue
        missing.append(module)
    assert not missing, f"docs/architecture.md's tree has no line for {missing}"


def test_every_module_in_the_architecture_tree_exists():
    listed = _tree_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    gone = sorted(p for p in listed if p.endswith(".py") and not (ROOT / p).is_file())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def test_no_tracked_file_names_files_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    hits = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{name.decode()}:{number}: {line.strip()}")
    assert not hits, "files outside the repository are named:\n" + "\n".join(hits)
