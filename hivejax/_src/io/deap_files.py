"""The original Hivetrain subnet's genome files: ``best_gene.json`` and ``.deap``.

The expressions inside are parsed and written by ``deap_format.py``; this module handles
the files around them.

The original writes ``best_gene.json`` as
``json.dump(json.dumps({"expression": ..., "hotkey": ...}))``: a JSON file whose content is
a JSON *string* encoding the object. ``read_gene`` takes that, or the object itself; other
keys are ignored, and the hotkey is returned but not used. A file ending in ``.deap``
holds a bare prefix expression. ``program_io.load_program`` accepts both
(``is_deap_file``), so ``hivejax evaluate best_gene.json`` and ``--seed-programs`` do.
``write_gene`` writes the original layout atomically (``files.write_atomic``).
"""

import json
import os

from hivejax._src.io.deap_format import from_deap, to_deap
from hivejax._src.program.files import write_atomic
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.program import Program, ProgramSpec

GENE_FILE = "best_gene.json"
SUFFIX = ".deap"


def gene_bytes(expression: str, hotkey: str | None = None) -> bytes:
    """The bytes of a ``best_gene.json`` as the original miner writes it.

    Example:
      >>> data = gene_bytes("safe_add(x, y)", "5F...")
      >>> outer = json.loads(data)  # the file's JSON is a string ...
      >>> type(outer).__name__, json.loads(outer)  # ... that encodes the object
      ('str', {'expression': 'safe_add(x, y)', 'hotkey': '5F...'})
    """
    return json.dumps(json.dumps({"expression": expression, "hotkey": hotkey})).encode("utf-8")


def read_gene(data: bytes) -> tuple[str, str | None]:
    """The ``(expression, hotkey)`` of a ``best_gene.json``: JSON whose content is a string
    encoding ``{"expression": ..., "hotkey": ...}``, or that object itself. Raises
    ``DecodeError`` naming the bad field; the expression itself is not parsed here.

    Example:
      >>> read_gene(gene_bytes("safe_log(x)"))
      ('safe_log(x)', None)
    """
    obj = _json(data, "gene")
    if isinstance(obj, str):
        obj = _json(obj.encode("utf-8"), "gene (the string's content)")
    if not isinstance(obj, dict):
        raise DecodeError(f"gene: expected a JSON object, got {type(obj).__name__}")
    if "expression" not in obj:
        raise DecodeError("gene.expression: missing")
    expression, hotkey = obj["expression"], obj.get("hotkey")
    if not isinstance(expression, str):
        raise DecodeError(f"gene.expression: expected a string, got {type(expression).__name__}")
    if hotkey is not None and not isinstance(hotkey, str):
        raise DecodeError(f"gene.hotkey: expected a string or null, got {type(hotkey).__name__}")
    return expression, hotkey


def _json(data: bytes, field: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DecodeError(f"{field}: not JSON: {e}") from None


def write_gene(
    path: str | os.PathLike, spec: ProgramSpec, program: Program, hotkey: str | None = None
) -> None:
    """Write ``program`` as a ``best_gene.json`` atomically (``files.write_atomic``).

    The file is read back before it is written, so every written genome imports;
    ``ValueError`` if the program has no DEAP expression (see ``to_deap``).
    """
    payload = gene_bytes(to_deap(spec, program), hotkey)
    try:
        from_deap(read_gene(payload)[0])
    except DecodeError as e:
        raise ValueError(f"cannot write {os.fspath(path)}: {e}") from None
    write_atomic(path, payload)


def is_deap_file(path: str, data: bytes) -> bool:
    """Whether a file holds an original genome: a ``.deap`` file, or JSON that is a string
    or an object with an ``expression`` and no ``format`` (a hivejax program has one)."""
    if path.endswith(SUFFIX):
        return True
    head = data.lstrip()[:1]
    if head == b'"':
        return True
    if head != b"{" or b'"expression"' not in data:
        return False
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and "expression" in obj and "format" not in obj


def decode_file(
    path: str, data: bytes, spec: ProgramSpec | None = None
) -> tuple[ProgramSpec, Program]:
    """The program of a file ``is_deap_file`` accepts, imported into ``spec`` (see
    ``from_deap``): a ``.deap`` file's text is the expression, anything else is a
    ``best_gene.json``."""
    if path.endswith(SUFFIX):
        try:
            expression = data.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise DecodeError(f"expression: not UTF-8 text: {e}") from None
    else:
        expression, _ = read_gene(data)
    return from_deap(expression, spec)
