"""Program formats: versioned JSON for people, compact binary for the chain and for hashing.

Programs leave the process: the CLI saves and loads them, miners submit them, validators
fetch them, and ``canonical_hash`` hashes their binary encoding. Both formats carry the
spec, so a file is self-describing; both store only the ``length`` instructions that run
(decoding pads the rest as ``make_program`` does: ``copy``, ``dst`` 0, sources ``r0``);
both keep the free constants bit-exact.

Decoding treats its input as hostile. Every field is checked (format, version, sizes,
op codes, registers, operand indices, constant count and finiteness, JSON types), a bad
one raises ``DecodeError`` naming it, capacities are capped so a file cannot ask for huge
arrays, and nothing is evaluated or unpickled.

Versions: a program whose spec has one output and the full op set is written as version
1, any other as version 2, which adds the spec's ``outputs`` and ``op_set``, and one whose
spec has no named constants as version 3, which adds ``named_constants``. So the loss
programs of version 1 and every program of version 2 keep their bytes and their hashes,
and every version decodes.

JSON, version 1 (``to_json`` returns the dict; instructions are ``[dst, op, src1, src2]``
by operand name; constants are the shortest decimals that round-trip their float32; other
top-level keys are annotations that ``from_json`` ignores, such as the ``hash``,
``formula`` and ``fitness`` of the engine's ``best.json``, but unknown ``spec`` keys are
errors)::

    {"format": "hivejax.program", "version": 1,
     "spec": {"inputs": ["x", "y"], "max_length": 16, "num_consts": 4, "num_registers": 8},
     "instructions": [["r1", "sub", "x", "y"], ["r0", "square", "r1", "r1"]],
     "consts": [0.0, 0.0, 0.0, 0.0]}

JSON, version 2: the same, with ``"outputs": N`` and ``"op_set"`` (``"all"``,
``"elementwise"`` or ``"koza"``) in ``spec``. Version 3: also ``"named_constants"``
(``true`` or ``false``) in ``spec``.

Binary, version 1 (``to_bytes``; all integers are uint8, nothing may follow the constants)::

    magic   4 bytes   b"HJXP"
    version 1         1
    inputs  1 + ...   count n, then n times: name length m, m ASCII bytes
    spec    3         max_length L (1..255), num_consts K (0..64), num_registers W (1..64)
    length  1         number of instructions that run, 0..L
    code    4*length  op, dst (work register 0..W-1), src1, src2 (operand indices)
    consts  4*K       float32, little-endian

Binary, version 2: the same, with two more bytes after ``spec``: ``outputs`` (1..W) and
``op_set`` (0 all, 1 elementwise, 2 koza). Version 3: one more after those,
``named_constants`` (0 or 1).

Decoded programs hold ``jax.numpy`` arrays with the dtypes of ``Program`` (int32 code and
length, float32 constants), ready for jitted code.
"""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np

from hivejax._src.program import ops
from hivejax._src.program.program import OP_SETS, Program, ProgramSpec

FORMAT = "hivejax.program"
VERSIONS = (1, 2, 3)
MAGIC = b"HJXP"

# Caps on what a decoded file may ask for. With them every operand index fits a uint8.
MAX_LENGTH = 255
MAX_CONSTS = 64
MAX_REGISTERS = 64
MAX_INPUTS = 32
MAX_NAME = 32

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = re.compile(r"[cr][0-9]+")
_SPEC_KEYS = ("inputs", "max_length", "num_consts", "num_registers")
_SPEC_KEYS_V2 = (*_SPEC_KEYS, "outputs", "op_set")
_SPEC_KEYS_V3 = (*_SPEC_KEYS_V2, "named_constants")
_KEYS_OF = {1: _SPEC_KEYS, 2: _SPEC_KEYS_V2, 3: _SPEC_KEYS_V3}
_OP_SETS = tuple(OP_SETS)  # a binary code is a position here: new sets go last
_JSON_KEYS = ("format", "version", "spec", "instructions", "consts")


class DecodeError(ValueError):
    """A program file or payload is malformed; the message names the bad field first.

    Example:
      >>> try:
      ...     from_json({"format": "hivejax.program", "version": 7})
      ... except DecodeError as e:
      ...     print(e)
      version: expected 1, 2 or 3, got 7
    """


# --- validation shared by both decoders (and by the encoders, on their input) ---


def _check_int(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DecodeError(f"{field}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise DecodeError(f"{field}: {value} is outside [{low}, {high}]")
    return int(value)


def _check_input_name(name, field: str) -> str:
    if not isinstance(name, str):
        raise DecodeError(f"{field}: expected a string, got {type(name).__name__}")
    if not (_NAME.fullmatch(name) and name.isascii() and len(name) <= MAX_NAME):
        raise DecodeError(f"{field}: {name!r} is not an ASCII identifier of at most {MAX_NAME}")
    if _RESERVED.fullmatch(name) or name in dict(ops.NAMED_CONSTANTS):
        raise DecodeError(f"{field}: {name!r} is reserved for a constant or register")
    return name


def _make_spec(
    inputs, max_length, num_consts, num_registers, outputs=1, op_set="all", named_constants=True
) -> ProgramSpec:
    """A ``ProgramSpec`` from untrusted fields, each checked against the caps."""
    if not isinstance(inputs, list | tuple):
        raise DecodeError(f"spec.inputs: expected a list, got {type(inputs).__name__}")
    if not 1 <= len(inputs) <= MAX_INPUTS:
        raise DecodeError(f"spec.inputs: {len(inputs)} inputs is outside [1, {MAX_INPUTS}]")
    names = tuple(_check_input_name(n, f"spec.inputs[{i}]") for i, n in enumerate(inputs))
    if len(set(names)) != len(names):
        raise DecodeError(f"spec.inputs: duplicate names in {list(names)}")
    num_registers = _check_int(num_registers, "spec.num_registers", 1, MAX_REGISTERS)
    if op_set not in _OP_SETS:
        raise DecodeError(f"spec.op_set: expected one of {list(_OP_SETS)}, got {op_set!r}")
    if not isinstance(named_constants, bool):
        raise DecodeError(f"spec.named_constants: expected true or false, got {named_constants!r}")
    return ProgramSpec(
        inputs=names,
        max_length=_check_int(max_length, "spec.max_length", 1, MAX_LENGTH),
        num_consts=_check_int(num_consts, "spec.num_consts", 0, MAX_CONSTS),
        num_registers=num_registers,
        outputs=_check_int(outputs, "spec.outputs", 1, num_registers),
        op_set=op_set,
        named_constants=named_constants,
    )


def _version(spec: ProgramSpec) -> int:
    if not spec.named_constants:
        return 3
    return 1 if (spec.outputs, spec.op_set) == (1, "all") else 2


def _check_instruction(spec: ProgramSpec, i: int, op, dst, src1, src2) -> tuple:
    field = f"instructions[{i}]"
    op = _check_int(op, f"{field}.op", 0, ops.NUM_OPS - 1)
    if op not in spec.allowed_ops:
        raise DecodeError(f"{field}.op: {ops.OPS[op].name!r} is not in the {spec.op_set!r} op set")
    return (
        op,
        _check_int(dst, f"{field}.dst", 0, spec.num_registers - 1),
        _check_int(src1, f"{field}.src1", 0, spec.num_operands - 1),
        _check_int(src2, f"{field}.src2", 0, spec.num_operands - 1),
    )


def _check_consts(spec: ProgramSpec, values) -> np.ndarray:
    if len(values) != spec.num_consts:
        raise DecodeError(f"consts: expected {spec.num_consts} values, got {len(values)}")
    out = np.zeros(spec.num_consts, np.float32)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating):
            raise DecodeError(f"consts[{i}]: expected a number, got {type(v).__name__}")
        with np.errstate(over="ignore"):
            try:
                out[i] = np.float32(float(v))
            except OverflowError:  # an integer beyond any float
                out[i] = np.inf
        if not np.isfinite(out[i]):
            raise DecodeError(f"consts[{i}]: {v!r} is not a finite float32")
    return out


def _build(spec: ProgramSpec, rows: list, consts: np.ndarray) -> Program:
    """A ``Program`` of jnp arrays from checked ``(op, dst, src1, src2)`` rows."""
    if len(rows) > spec.max_length:
        raise DecodeError(f"length: {len(rows)} exceeds spec.max_length={spec.max_length}")
    pad = [(ops.COPY, 0, spec.register_base, spec.register_base)] * (spec.max_length - len(rows))
    code = np.asarray(rows + pad, np.int32).reshape(spec.max_length, 4)
    op, dst, src1, src2 = (jnp.asarray(code[:, j]) for j in range(4))
    return Program(op, dst, src1, src2, jnp.asarray(consts), jnp.asarray(len(rows), jnp.int32))


# --- the encoders' view of a program ---


def _live_rows(spec: ProgramSpec, program: Program) -> tuple[list, np.ndarray]:
    """The checked running instructions and the constants of one program, on the host."""
    try:
        _make_spec(
            list(spec.inputs),
            spec.max_length,
            spec.num_consts,
            spec.num_registers,
            spec.outputs,
            spec.op_set,
            spec.named_constants,
        )
    except DecodeError as e:
        raise ValueError(f"cannot encode a program of {spec}: {e}") from None
    p = jax.tree.map(np.asarray, program)
    L = spec.max_length
    shapes = {"op": (L,), "dst": (L,), "src1": (L,), "src2": (L,)}
    shapes |= {"consts": (spec.num_consts,), "length": ()}
    for name, shape in shapes.items():
        if getattr(p, name).shape != shape:
            raise ValueError(
                f"program.{name} has shape {getattr(p, name).shape}, expected {shape}: "
                "encode one program at a time, with the spec it was made for"
            )
    length = int(p.length)
    if not 0 <= length <= L:
        raise ValueError(f"program.length={length} is outside [0, {L}]")
    code = np.stack([p.op, p.dst, p.src1, p.src2], axis=1)[:length].tolist()
    try:
        rows = [_check_instruction(spec, i, *row) for i, row in enumerate(code)]
    except DecodeError as e:
        raise ValueError(f"cannot encode program: {e}") from None
    return rows, p.consts.astype(np.float32)


# --- JSON ---


def _float_to_json(v: np.float32) -> float:
    """The shortest decimal that reads back as exactly ``v``, else the exact double."""
    short = float(str(v))
    return short if np.float32(short).tobytes() == v.tobytes() else float(v)


def to_json(spec: ProgramSpec, program: Program) -> dict:
    """The versioned JSON object of one program (``json.dumps`` it to write it).

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec(num_consts=1)
      >>> p = make_program(spec, [("r0", "mul", "x", "c0")], consts=(0.1,))
      >>> obj = to_json(spec, p)
      >>> obj["instructions"], obj["consts"]
      ([['r0', 'mul', 'x', 'c0']], [0.1])
    """
    rows, consts = _live_rows(spec, program)
    names = spec.operand_names()
    version = _version(spec)
    keys = _KEYS_OF[version]
    spec_obj = {k: getattr(spec, k) for k in keys} | {"inputs": list(spec.inputs)}
    return {
        "format": FORMAT,
        "version": version,
        "spec": spec_obj,
        "instructions": [
            [f"r{dst}", ops.OPS[op].name, names[s1], names[s2]] for op, dst, s1, s2 in rows
        ],
        "consts": [_float_to_json(v) for v in consts],
    }


def _expect(obj, kind: type, field: str):
    if not isinstance(obj, kind):
        raise DecodeError(f"{field}: expected {kind.__name__}, got {type(obj).__name__}")
    return obj


def _check_keys(obj: dict, keys: tuple, field: str, extra: bool = False):
    for key in keys:
        if key not in obj:
            raise DecodeError(f"{field}{key}: missing")
    for key in obj:
        if key not in keys and not extra:
            raise DecodeError(f"{field}{key}: unexpected field")


def _json_instruction(spec: ProgramSpec, names: dict, i: int, inst) -> tuple:
    field = f"instructions[{i}]"
    _expect(inst, list, field)
    if len(inst) != 4:
        raise DecodeError(f"{field}: expected [dst, op, src1, src2], got {len(inst)} items")
    for part, value in zip(("dst", "op", "src1", "src2"), inst, strict=True):
        _expect(value, str, f"{field}.{part}")
    dst, op, src1, src2 = inst
    if op not in ops.OP_INDEX:
        raise DecodeError(f"{field}.op: unknown op {op!r}")
    for part, name in (("dst", dst), ("src1", src1), ("src2", src2)):
        if name not in names:
            raise DecodeError(f"{field}.{part}: unknown operand {name!r}")
    if names[dst] < spec.register_base:
        raise DecodeError(f"{field}.dst: {dst!r} is not a work register")
    row = (ops.OP_INDEX[op], names[dst] - spec.register_base, names[src1], names[src2])
    return _check_instruction(spec, i, *row)


def from_json(obj) -> tuple[ProgramSpec, Program]:
    """Decode a ``to_json`` object strictly; raises ``DecodeError`` naming the bad field."""
    _expect(obj, dict, "program")
    if obj.get("format") != FORMAT:
        raise DecodeError(f"format: expected {FORMAT!r}, got {obj.get('format')!r}")
    version = obj.get("version")
    if type(version) is not int or version not in VERSIONS:
        raise DecodeError(f"version: expected 1, 2 or 3, got {version!r}")
    _check_keys(obj, _JSON_KEYS, "", extra=True)  # annotations: hash, formula, fitness
    spec_obj = _expect(obj["spec"], dict, "spec")
    keys = _KEYS_OF[version]
    _check_keys(spec_obj, keys, "spec.")
    spec = _make_spec(*(spec_obj[k] for k in keys))
    instructions = _expect(obj["instructions"], list, "instructions")
    if len(instructions) > spec.max_length:
        raise DecodeError(
            f"instructions: {len(instructions)} exceed spec.max_length={spec.max_length}"
        )
    names = {name: i for i, name in enumerate(spec.operand_names())}
    rows = [_json_instruction(spec, names, i, inst) for i, inst in enumerate(instructions)]
    consts = _check_consts(spec, _expect(obj["consts"], list, "consts"))
    return spec, _build(spec, rows, consts)


def json_text(obj: dict) -> str:
    """Readable JSON text of a ``to_json`` object: one line per instruction."""
    head = {k: v for k, v in obj.items() if k not in ("instructions", "consts")}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    insts = ",\n".join(f"    {json.dumps(inst)}" for inst in obj["instructions"])
    lines.append(f'  "instructions": [\n{insts}\n  ],' if insts else '  "instructions": [],')
    lines.append(f'  "consts": {json.dumps(obj["consts"])}')
    return "{\n" + "\n".join(lines) + "\n}\n"


# --- binary ---


def to_bytes(spec: ProgramSpec, program: Program) -> bytes:
    """The compact binary encoding of one program (layout in the module docstring).

    Constants are stored as they are, non-finite ones included, so any program can be
    hashed; ``from_bytes`` (and so ``save_program``) rejects non-finite constants.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> data = to_bytes(spec, make_program(spec, [("r0", "sub", "x", "y")]))
      >>> data[:5], len(data)
      (b'HJXP\\x01', 34)
    """
    rows, consts = _live_rows(spec, program)
    version = _version(spec)
    out = [MAGIC, bytes([version, spec.num_inputs])]
    for name in spec.inputs:
        out.append(bytes([len(name)]) + name.encode("ascii"))
    out.append(bytes([spec.max_length, spec.num_consts, spec.num_registers]))
    if version >= 2:
        out.append(bytes([spec.outputs, _OP_SETS.index(spec.op_set)]))
    if version >= 3:
        out.append(bytes([int(spec.named_constants)]))
    out.append(bytes([len(rows)]))
    out.extend(bytes(row) for row in rows)
    # numpy, not struct: struct rounds through double, which may change a NaN's payload.
    out.append(consts.astype("<f4").tobytes())
    return b"".join(out)


class _Reader:
    """Reads fields from untrusted bytes, naming the field when the data runs out."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.data):
            have = len(self.data) - self.pos
            raise DecodeError(
                f"{field}: truncated, needs {n} bytes at offset {self.pos}, {have} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]


def _read_spec(r: _Reader, version: int) -> ProgramSpec:
    count = r.byte("spec.inputs")
    if not 1 <= count <= MAX_INPUTS:
        raise DecodeError(f"spec.inputs: {count} inputs is outside [1, {MAX_INPUTS}]")
    names = []
    for i in range(count):
        raw = r.take(r.byte(f"spec.inputs[{i}]"), f"spec.inputs[{i}]")
        if not raw.isascii():
            raise DecodeError(f"spec.inputs[{i}]: {raw!r} is not ASCII")
        names.append(_check_input_name(raw.decode("ascii"), f"spec.inputs[{i}]"))
    sizes = [r.byte(f"spec.{k}") for k in _SPEC_KEYS[1:]]
    if version >= 2:
        sizes.append(r.byte("spec.outputs"))
        code = r.byte("spec.op_set")
        if code >= len(_OP_SETS):
            raise DecodeError(f"spec.op_set: code {code} is outside [0, {len(_OP_SETS) - 1}]")
        sizes.append(_OP_SETS[code])
    if version >= 3:
        flag = r.byte("spec.named_constants")
        if flag > 1:
            raise DecodeError(f"spec.named_constants: {flag} is not 0 or 1")
        sizes.append(bool(flag))
    return _make_spec(names, *sizes)


def from_bytes(data: bytes) -> tuple[ProgramSpec, Program]:
    """Decode a ``to_bytes`` payload strictly; raises ``DecodeError`` naming the bad field."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"from_bytes needs bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    magic = r.take(len(MAGIC), "magic")
    if magic != MAGIC:
        raise DecodeError(f"magic: expected {MAGIC!r}, got {magic!r}")
    version = r.byte("version")
    if version not in VERSIONS:
        raise DecodeError(f"version: expected 1, 2 or 3, got {version}")
    spec = _read_spec(r, version)
    length = r.byte("length")
    if length > spec.max_length:
        raise DecodeError(f"length: {length} exceeds spec.max_length={spec.max_length}")
    rows = [_check_instruction(spec, i, *r.take(4, f"instructions[{i}]")) for i in range(length)]
    raw = r.take(4 * spec.num_consts, "consts")
    consts = _check_consts(spec, np.frombuffer(raw, "<f4").astype(np.float32))
    if r.pos != len(r.data):
        raise DecodeError(f"end: {len(r.data) - r.pos} trailing bytes after the constants")
    return spec, _build(spec, rows, consts)


def decode(data: bytes) -> tuple[ProgramSpec, Program]:
    """Either format: binary when ``data`` starts with the magic, JSON when it starts like a
    JSON object. Raises ``DecodeError`` naming the bad field."""
    if data.startswith(MAGIC) or not data.lstrip().startswith(b"{"):
        return from_bytes(data)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DecodeError(f"json: {e}") from None
    return from_json(obj)
