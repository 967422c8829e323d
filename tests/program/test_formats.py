"""Both program formats round-trip exactly and reject every kind of malformed input."""

import copy
import json
import os

import jax
import numpy as np
import pytest

from hivejax._src.io import program_io
from hivejax._src.program import formats, ops
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.program import Program, ProgramSpec, make_program, random_population
from hivejax._src.tasks import builtins, registry

SPECS = {
    "default": (ProgramSpec(), {}),
    "largest": (
        ProgramSpec(inputs=("g", "p", "m"), max_length=255, num_consts=64, num_registers=64),
        {"max_length": 255},
    ),
    "smallest": (
        ProgramSpec(inputs=("x",), max_length=1, num_consts=0, num_registers=1),
        {"min_length": 1, "max_length": 1},
    ),
    "no constants": (  # a DSO benchmark's layout: inputs and registers only (version 3)
        ProgramSpec(inputs=("x", "y"), num_consts=0, op_set="koza", named_constants=False),
        {},
    ),
}


def _unbatch(population: Program) -> list[Program]:
    host = jax.tree.map(np.asarray, population)  # slicing host arrays is free
    return [jax.tree.map(lambda a, i=i: a[i], host) for i in range(len(host.length))]


def _padded(spec: ProgramSpec, program: Program) -> Program:
    """``program`` with the instructions past ``length`` replaced by the decoder's padding."""
    p = jax.tree.map(np.array, program)
    tail = np.arange(spec.max_length) >= int(p.length)
    rb = spec.register_base
    for name, pad in (("op", ops.COPY), ("dst", 0), ("src1", rb), ("src2", rb)):
        getattr(p, name)[tail] = pad
    return p


def _assert_identical(decoded: Program, expected: Program):
    for name in ("op", "dst", "src1", "src2", "consts", "length"):
        got, want = getattr(decoded, name), np.asarray(getattr(expected, name))
        assert isinstance(got, jax.Array), name
        assert got.dtype == (np.float32 if name == "consts" else np.int32), name
        assert got.shape == want.shape, name
        # Bit-exact, so -0.0, subnormals and every float32 survive.
        assert np.asarray(got).tobytes() == want.tobytes(), name


def _round_trips(spec: ProgramSpec, program: Program):
    expected = _padded(spec, program)
    data = formats.to_bytes(spec, program)
    spec_b, from_b = formats.from_bytes(data)
    assert spec_b == spec
    _assert_identical(from_b, expected)
    assert formats.to_bytes(spec_b, from_b) == data
    # Through JSON text, as a file would carry it.
    obj = json.loads(json.dumps(formats.to_json(spec, program)))
    spec_j, from_j = formats.from_json(obj)
    assert spec_j == spec
    _assert_identical(from_j, expected)
    assert formats.to_json(spec_j, from_j) == obj


@pytest.mark.parametrize("name", SPECS)
def test_random_programs_round_trip(name):
    spec, kw = SPECS[name]
    for program in _unbatch(random_population(jax.random.key(0), spec, 12, **kw)):
        _round_trips(spec, program)


@pytest.mark.parametrize("name", builtins.BUILTINS)
def test_builtins_round_trip(name):
    # Activations and optimizers have other specs, written as version 2.
    spec = registry.builtin_spec(name)
    _round_trips(spec, registry.builtin(name, spec))


def test_special_constants_round_trip(spec):
    values = (-0.0, 1e-45, 3.4028235e38, 0.1)  # signed zero, subnormal, max float32, inexact
    program = make_program(spec, [("r0", "mul", "x", "c3")], consts=values)
    _round_trips(spec, program)
    assert formats.to_json(spec, program)["consts"] == [-0.0, 1e-45, 3.4028235e38, 0.1]


def test_encoders_reject_a_population(spec):
    population = random_population(jax.random.key(0), spec, 12)
    with pytest.raises(ValueError, match="one program at a time"):
        formats.to_bytes(spec, population)


# --- corrupted binary payloads ---


def _base_program(spec):
    return make_program(spec, [("r1", "sub", "x", "y"), ("r0", "mul", "r1", "c1")], (0.5, 2.0))


def _set(offset: int, value: bytes):
    return lambda b: b[:offset] + value + b[offset + len(value) :]


# Offsets in the payload of _base_program: magic 0, version 4, input count 5, "x" at 6-7,
# "y" at 8-9, max_length 10, num_consts 11, num_registers 12, length 13, code 14-21,
# consts 22-37.
BINARY_CORRUPTIONS = {
    "bad magic": ("magic", lambda b: b"HJXQ" + b[4:]),
    "empty": ("magic", lambda b: b""),
    "version": ("version", _set(4, b"\x07")),
    "no inputs": ("spec.inputs", _set(5, b"\x00")),
    "too many inputs": ("spec.inputs", _set(5, b"\x21")),
    "non-ASCII name": ("spec.inputs[0]", _set(7, b"\xff")),
    "empty name": ("spec.inputs[0]", _set(6, b"\x00")),
    "name not an identifier": ("spec.inputs[0]", _set(7, b"1")),
    "duplicate names": ("spec.inputs", _set(9, b"x")),
    "reserved name": ("spec.inputs[1]", _set(9, b"e")),
    "zero max_length": ("spec.max_length", _set(10, b"\x00")),
    "huge num_consts": ("spec.num_consts", _set(11, b"\x41")),
    "huge num_registers": ("spec.num_registers", _set(12, b"\xff")),
    "zero num_registers": ("spec.num_registers", _set(12, b"\x00")),
    "length over capacity": ("length", _set(13, b"\x11")),
    "unknown op code": ("instructions[1].op", _set(18, bytes([ops.NUM_OPS]))),
    "dst not a register": ("instructions[0].dst", _set(15, b"\x08")),
    "src1 out of range": ("instructions[0].src1", _set(16, b"\xff")),
    "src2 out of range": ("instructions[1].src2", _set(21, b"\x13")),
    "NaN constant": ("consts[1]", _set(26, np.float32(np.nan).tobytes())),
    "infinite constant": ("consts[0]", _set(22, np.float32(-np.inf).tobytes())),
    "truncated code": ("instructions[1]", lambda b: b[:20]),
    "truncated consts": ("consts", lambda b: b[:-1]),
    "trailing bytes": ("end", lambda b: b + b"\x00"),
}


@pytest.mark.parametrize("case", BINARY_CORRUPTIONS)
def test_corrupt_binary_is_rejected(spec, case):
    field, corrupt = BINARY_CORRUPTIONS[case]
    data = formats.to_bytes(spec, _base_program(spec))
    assert len(data) == 38
    with pytest.raises(DecodeError) as err:
        formats.from_bytes(corrupt(data))
    assert str(err.value).startswith(f"{field}:"), str(err.value)


def test_version_error_message(spec):
    data = formats.to_bytes(spec, _base_program(spec))
    with pytest.raises(DecodeError, match=r"^version: expected 1, 2 or 3, got 7$"):
        formats.from_bytes(_set(4, b"\x07")(data))


# --- corrupted JSON objects ---


def _put(path: str, value):
    """A corruption that sets ``obj[k1][k2]...`` (keys separated by '/') to ``value``."""

    def corrupt(obj):
        *parents, last = [int(k) if k.isdigit() else k for k in path.split("/")]
        for key in parents:
            obj = obj[key]
        obj[last] = value

    return corrupt


def _drop(key):
    return lambda obj: obj.pop(key)


JSON_CORRUPTIONS = {
    "wrong format": ("format", _put("format", "other")),
    "missing format": ("format", _drop("format")),
    "wrong version": ("version", _put("version", 7)),
    "version as text": ("version", _put("version", "1")),
    "version as bool": ("version", _put("version", True)),
    "missing spec": ("spec", _drop("spec")),
    "spec not an object": ("spec", _put("spec", [])),
    "missing max_length": ("spec.max_length", lambda o: o["spec"].pop("max_length")),
    "unknown spec field": ("spec.extra", _put("spec/extra", 1)),
    "inputs not a list": ("spec.inputs", _put("spec/inputs", "xy")),
    "no inputs": ("spec.inputs", _put("spec/inputs", [])),
    "input not a string": ("spec.inputs[1]", _put("spec/inputs/1", 3)),
    "input not an identifier": ("spec.inputs[0]", _put("spec/inputs/0", "a b")),
    "input a register name": ("spec.inputs[0]", _put("spec/inputs/0", "r0")),
    "input a constant name": ("spec.inputs[1]", _put("spec/inputs/1", "pi")),
    "duplicate inputs": ("spec.inputs", _put("spec/inputs", ["x", "x"])),
    "max_length as text": ("spec.max_length", _put("spec/max_length", "16")),
    "max_length as bool": ("spec.max_length", _put("spec/max_length", True)),
    "max_length as float": ("spec.max_length", _put("spec/max_length", 16.0)),
    "zero max_length": ("spec.max_length", _put("spec/max_length", 0)),
    "huge max_length": ("spec.max_length", _put("spec/max_length", 10**9)),
    "negative num_consts": ("spec.num_consts", _put("spec/num_consts", -1)),
    "huge num_registers": ("spec.num_registers", _put("spec/num_registers", 65)),
    "instructions not a list": ("instructions", _put("instructions", {})),
    "too many instructions": ("instructions", _put("instructions", [["r0", "neg", "x", "x"]] * 17)),
    "instruction not a list": ("instructions[0]", _put("instructions/0", "r1 = x - y")),
    "instruction of 3 items": ("instructions[0]", _put("instructions/0", ["r1", "neg", "x"])),
    "operand not a string": ("instructions[1].src2", _put("instructions/1/3", 1)),
    "unknown op": ("instructions[1].op", _put("instructions/1/1", "foo")),
    "dst an input": ("instructions[0].dst", _put("instructions/0/0", "x")),
    "dst past the registers": ("instructions[0].dst", _put("instructions/0/0", "r8")),
    "unknown source": ("instructions[1].src1", _put("instructions/1/2", "q")),
    "constant past the slots": ("instructions[1].src2", _put("instructions/1/3", "c4")),
    "consts not a list": ("consts", _put("consts", 0.5)),
    "too few consts": ("consts", _put("consts", [0.5])),
    "const as text": ("consts[2]", _put("consts/2", "0.5")),
    "const as bool": ("consts[0]", _put("consts/0", False)),
    "NaN const": ("consts[1]", _put("consts/1", float("nan"))),
    "const beyond float32": ("consts[3]", _put("consts/3", 1e39)),
    "const beyond any float": ("consts[3]", _put("consts/3", 10**400)),
}


@pytest.mark.parametrize("case", JSON_CORRUPTIONS)
def test_corrupt_json_is_rejected(spec, case):
    field, corrupt = JSON_CORRUPTIONS[case]
    obj = copy.deepcopy(formats.to_json(spec, _base_program(spec)))
    corrupt(obj)
    with pytest.raises(DecodeError) as err:
        formats.from_json(obj)
    assert str(err.value).startswith(f"{field}:"), str(err.value)


def test_json_annotations_are_ignored(spec):
    obj = formats.to_json(spec, _base_program(spec))
    annotated = {**obj, "hash": "abc", "formula": "x * 2", "fitness": 0.9}
    _assert_identical(formats.from_json(annotated)[1], formats.from_json(obj)[1])


def test_json_error_messages(spec):
    obj = formats.to_json(spec, _base_program(spec))
    obj["instructions"][1][1] = "foo"
    with pytest.raises(DecodeError, match=r"^instructions\[1\]\.op: unknown op 'foo'$"):
        formats.from_json(obj)
    with pytest.raises(DecodeError, match=r"^program: expected dict, got list$"):
        formats.from_json([])


# --- files ---


def test_load_builtin():
    spec, program = program_io.load_program("builtin:cross_entropy")
    assert spec == ProgramSpec()
    _assert_identical(program, registry.builtin("cross_entropy"))
    small = ProgramSpec(max_length=5, num_consts=0, num_registers=2)
    assert program_io.load_program("builtin:mse", small)[0] == small


@pytest.mark.parametrize("suffix", [".json", ".bin", ""])
def test_save_then_load(tmp_path, spec, suffix):
    program = _base_program(spec)
    path = tmp_path / f"prog{suffix}"
    program_io.save_program(path, spec, program)
    is_json = path.read_bytes().startswith(b"{")
    assert is_json == (suffix == ".json")
    loaded_spec, loaded = program_io.load_program(path)
    assert loaded_spec == spec
    _assert_identical(loaded, program)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_json_file_is_readable(tmp_path, spec):
    path = tmp_path / "ce.json"
    program_io.save_program(path, spec, registry.builtin("cross_entropy", spec))
    lines = path.read_text().splitlines()
    assert '    ["r1", "lse_c", "x", "x"],' in lines
    # A hand-written file: any JSON layout, ints for float constants.
    obj = json.loads(path.read_text())
    obj["consts"] = [1, 0, 0, 0]
    path.write_text(json.dumps(obj))
    assert float(program_io.load_program(str(path))[1].consts[0]) == 1.0


BAD_FILES = {
    "garbage": (b"\x00\x01garbage\xff" * 10, "magic:"),
    "empty": (b"", "magic:"),
    "broken JSON": (b'{"format": "hivejax.program", ', "json:"),
    "deeply nested JSON": (b"{" + b'"a": [' * 100_000, "json:"),
    "JSON of another kind": (b'{"format": "other"}', "format:"),
    "truncated binary": (None, "consts:"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_load_bad_file(tmp_path, spec, case):
    content, reason = BAD_FILES[case]
    if content is None:
        content = formats.to_bytes(spec, _base_program(spec))[:-2]
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as err:
        program_io.load_program(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: {reason}") and "\n" not in message, message


@pytest.mark.parametrize("kind", ["missing", "directory", "unknown builtin", "huge"])
def test_load_failures_name_the_source(tmp_path, kind):
    source = {
        "missing": str(tmp_path / "nope.json"),
        "directory": str(tmp_path),
        "unknown builtin": "builtin:nope",
        "huge": str(tmp_path / "huge"),
    }[kind]
    if kind == "huge":
        (tmp_path / "huge").write_bytes(b" " * (program_io.MAX_FILE_BYTES + 1))
    with pytest.raises(DecodeError) as err:
        program_io.load_program(source)
    assert str(err.value).startswith(f"{source}: "), str(err.value)
    if kind == "unknown builtin":
        assert "cross_entropy" in str(err.value)


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


def test_save_replaces_atomically(tmp_path, spec, monkeypatch):
    path = tmp_path / "p.json"
    program_io.save_program(path, spec, registry.builtin("mse", spec))
    old = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    # A failure before the rename leaves the old file whole and no temporary behind.
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        program_io.save_program(path, spec, registry.builtin("focal", spec))
    assert path.read_bytes() == old
    assert _listing(tmp_path) == ["p.json"]
    monkeypatch.undo()

    program_io.save_program(path, spec, registry.builtin("focal", spec))
    assert program_io.load_program(str(path))[1].length == 9
    assert _listing(tmp_path) == ["p.json"]


def test_save_refuses_what_cannot_be_loaded(tmp_path, spec):
    path = tmp_path / "p.bin"
    program_io.save_program(path, spec, registry.builtin("mse", spec))
    old = path.read_bytes()
    bad = make_program(spec, [("r0", "mul", "x", "c0")], consts=(float("nan"),))
    with pytest.raises(ValueError, match="consts"):
        program_io.save_program(path, spec, bad)
    assert path.read_bytes() == old
    assert _listing(tmp_path) == ["p.bin"]


def test_version_2_carries_outputs_and_op_set():
    spec = registry.builtin_spec("adam")
    program = registry.builtin("adam", spec)
    obj = formats.to_json(spec, program)
    assert obj["version"] == 2
    assert obj["spec"]["outputs"] == 3 and obj["spec"]["op_set"] == "elementwise"
    assert formats.to_bytes(spec, program)[4] == 2
    # Version 1 stays the encoding of one-output, all-op programs, so their hashes keep.
    assert formats.to_json(ProgramSpec(), registry.builtin("mse"))["version"] == 1


def test_elementwise_spec_rejects_a_reduction():
    spec = registry.builtin_spec("relu")
    obj = formats.to_json(spec, registry.builtin("relu", spec))
    obj["instructions"] = [["r0", "mean", "x", "x"]]
    with pytest.raises(DecodeError, match=r"instructions\[0\]\.op: 'mean' is not in the "):
        formats.from_json(obj)


def test_version_3_carries_named_constants():
    spec = ProgramSpec(inputs=("x",), num_consts=0, op_set="koza", named_constants=False)
    program = make_program(spec, [("r1", "div", "x", "x"), ("r0", "add", "x", "r1")])
    obj = formats.to_json(spec, program)
    assert obj["version"] == 3 and obj["spec"]["named_constants"] is False
    assert obj["instructions"][0] == ["r1", "div", "x", "x"]
    data = formats.to_bytes(spec, program)
    assert data[4] == 3 and formats.from_bytes(data)[0] == spec
    assert spec.operand_names()[:2] == ("x", "r0")  # no one, zero, half, pi, e
    obj["instructions"][0] = ["r1", "div", "x", "one"]
    with pytest.raises(DecodeError, match=r"instructions\[0\]\.src2: unknown operand 'one'"):
        formats.from_json(obj)
    obj["spec"]["named_constants"] = 0
    with pytest.raises(DecodeError, match=r"spec\.named_constants: expected true or false"):
        formats.from_json(obj)


@pytest.mark.parametrize("outputs", [0, 9])
def test_outputs_out_of_range_is_named(outputs):
    spec = registry.builtin_spec("adam")
    obj = formats.to_json(spec, registry.builtin("adam", spec))
    obj["spec"]["outputs"] = outputs
    with pytest.raises(DecodeError, match=rf"spec\.outputs: {outputs} is outside \[1, 8\]"):
        formats.from_json(obj)
