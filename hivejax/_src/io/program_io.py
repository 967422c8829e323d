"""Programs by name: ``builtin:NAME`` or a file, loaded strictly and saved atomically.

Everything that takes a program from a user (the CLI, seed programs of a run, the
notebooks) goes through ``load_program``; files are decoded by ``formats.decode`` (or, for
the original subnet's genomes, ``best_gene.json`` and ``.deap`` files, by ``deap_files``)
and must fit one of the tasks (``tasks.registry.task_of_spec``), so a program whose spec names
inputs no task binds is refused when it is read, not when it is trained.
"""

import os

from hivejax._src.io import deap_files
from hivejax._src.program import formats
from hivejax._src.program.canonical import canonicalize, hash_of_canonical
from hivejax._src.program.files import write_atomic
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.formula import formula_of_canonical
from hivejax._src.program.program import Program, ProgramSpec, make_program
from hivejax._src.tasks import registry

MAX_FILE_BYTES = 1 << 20


def load_program(
    source: str | os.PathLike, spec: ProgramSpec | None = None
) -> tuple[ProgramSpec, Program]:
    """A program by name: ``builtin:NAME`` or the path of a JSON or binary file, or of an
    original subnet genome (``deap_files``: a ``best_gene.json``, or a ``.deap`` file
    holding a bare DEAP expression).

    ``spec``: the shape the caller needs. A builtin is built in it (default: its task's
    spec); a file carries its own, which must then equal it; a genome is imported into it
    (default: the loss task's ``x, y`` layout, grown to fit).
    Every failure (unknown builtin, missing or unreadable file, bad content, a shape that
    fits no task or not ``spec``) raises ``DecodeError`` with a one-line message that
    starts with ``source``.

    Example:
      >>> spec, p = load_program("builtin:mse")
      >>> int(p.length)
      2
    """
    source = os.fspath(source)
    try:
        if source.startswith("builtin:"):
            name = source.removeprefix("builtin:")
            spec = spec or registry.builtin_spec(name)
            return spec, registry.builtin(name, spec)
        data = _read(source)
        if deap_files.is_deap_file(source, data):
            got, program = deap_files.decode_file(source, data, spec)
        else:
            got, program = formats.decode(data)
        registry.task_of_spec(got)
        if spec is not None and got != spec:
            raise ValueError(f"program shape {got} does not match the needed {spec}")
        return got, program
    except (DecodeError, ValueError) as e:
        raise DecodeError(f"{source}: {e}") from None


def respec(spec: ProgramSpec, program: Program, target: ProgramSpec) -> Program:
    """``program`` of ``spec`` re-expressed in ``target``, operand by operand name: a loss
    of inputs ``x, y`` in the layout with derived inputs, say. ``ValueError`` if it reads a
    name ``target`` lacks or does not fit ``target``'s capacities."""
    doc = formats.to_json(spec, program)
    instructions = [tuple(i) for i in doc["instructions"]]
    return make_program(target, instructions, [float(c) for c in doc["consts"]])


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise DecodeError(f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise DecodeError(f"larger than {MAX_FILE_BYTES} bytes, not a program")
    return data


def save_program(path: str | os.PathLike, spec: ProgramSpec, program: Program) -> None:
    """Write a program atomically (``files.write_atomic``): JSON when ``path`` ends in
    ``.json``, else binary.

    The payload is decoded before it is written, so every saved file loads (a non-finite
    constant raises ``ValueError``).
    """
    path = os.fspath(path)
    if path.endswith(".json"):
        payload = formats.json_text(formats.to_json(spec, program)).encode("utf-8")
    else:
        payload = formats.to_bytes(spec, program)
    try:
        formats.decode(payload)
    except DecodeError as e:
        raise ValueError(f"cannot save {path}: {e}") from None
    write_atomic(path, payload)


def canonical_record(spec: ProgramSpec, program: Program, **annotations) -> tuple[Program, dict]:
    """A program's canonical form, and its JSON object with its ``hash``, ``formula`` and
    ``annotations`` (as in ``best.json``; ``load_program`` reads it back)."""
    canonical = canonicalize(spec, program)
    record = {
        **formats.to_json(spec, canonical),
        "hash": hash_of_canonical(spec, canonical),
        "formula": formula_of_canonical(spec, canonical),
        **annotations,
    }
    return canonical, record
