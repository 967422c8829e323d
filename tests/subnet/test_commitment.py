"""The on-chain commitment: round trips, every rejection, a fuzz, and the byte budget."""

import dataclasses
import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivejax._src.program.canonical import canonical_hash, canonicalize
from hivejax._src.program.formats import to_bytes
from hivejax._src.program.program import ProgramSpec, make_program
from hivejax._src.subnet import commitment
from hivejax._src.subnet.commitment import (
    HEADER_BYTES,
    REASONS,
    TASK_CODES,
    Decoded,
    Rejected,
    decode,
    decode_for,
    encode,
)
from hivejax._src.subnet.rules import MAX_FIELD_BYTES, MAX_PAYLOAD
from hivejax._src.tasks.builtins import BUILTINS, TASK_OF
from hivejax._src.tasks.registry import TASKS, builtin, builtin_spec, make_task

VERSION = "0123456789ab"


@functools.cache
def payload_of(name: str) -> bytes:
    return encode(TASK_OF[name], VERSION, builtin_spec(name), builtin(name))


def chain_program(spec: ProgramSpec, n: int):
    """``n`` live instructions: ``r0 = r0 + first input``, repeated (canonical as it is)."""
    return make_program(spec, [("r0", "add", "r0", spec.inputs[0])] * n)


def test_task_codes_are_the_registrys_tasks():
    assert sorted(TASK_CODES) == sorted(TASKS)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_round_trips_in_canonical_form(name):
    spec, program = builtin_spec(name), builtin(name)
    got = decode(payload_of(name))
    assert isinstance(got, Decoded), got
    assert (got.task, got.protocol_version, got.spec) == (TASK_OF[name], VERSION, spec)
    assert canonical_hash(got.spec, got.program) == canonical_hash(spec, program)
    assert to_bytes(got.spec, got.program) == to_bytes(spec, canonicalize(spec, program))


def test_equivalent_programs_commit_the_same_bytes():
    spec = builtin_spec("mse")
    a = make_program(
        spec, [("r3", "sub", "x", "y"), ("r5", "exp", "x", "x"), ("r0", "square", "r3", "r3")]
    )
    b = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])
    assert encode("loss", VERSION, spec, a) == encode("loss", VERSION, spec, b)


def test_encode_refuses_what_it_cannot_commit():
    spec, program = builtin_spec("mse"), builtin("mse")
    with pytest.raises(ValueError, match="unknown task"):
        encode("regression", VERSION, spec, program)
    for bad in ("0123456789", "0123456789AB", "0123456789xy", 12):
        with pytest.raises(ValueError, match="12 lowercase hex"):
            encode("loss", bad, spec, program)
    with pytest.raises(ValueError, match="activation"):
        encode("activation", VERSION, spec, program)
    long_spec = dataclasses.replace(spec, max_length=100)
    with pytest.raises(ValueError, match=f"more than the {MAX_PAYLOAD}"):
        encode("loss", VERSION, long_spec, chain_program(long_spec, 90))


def _with(payload: bytes, index: int, value: int) -> bytes:
    return payload[:index] + bytes([value]) + payload[index + 1 :]


def _wrong_shape() -> bytes:
    loss = payload_of("mse")
    return loss[:4] + bytes([TASK_CODES.index("activation")]) + loss[5:]


REJECTIONS = {
    "not_bytes": lambda: "HJC",
    "empty": lambda: b"",
    "too_large": lambda: payload_of("mse") + bytes(MAX_PAYLOAD),
    "bad_magic": lambda: b"HJX" + payload_of("mse")[3:],
    "truncated": lambda: payload_of("mse")[: HEADER_BYTES - 1],
    "bad_version": lambda: _with(payload_of("mse"), 3, 2),
    "unknown_task": lambda: _with(payload_of("mse"), 4, len(TASK_CODES)),
    "bad_program": lambda: payload_of("mse")[:-1],
    "wrong_shape": _wrong_shape,
    "wrong_task": lambda: payload_of("relu"),
    "wrong_protocol": lambda: encode("loss", "ba9876543210", builtin_spec("mse"), builtin("mse")),
    "wrong_spec": lambda: encode(
        "loss", VERSION, dataclasses.replace(builtin_spec("mse"), max_length=20), builtin("mse")
    ),
}


def test_every_reason_is_tested():
    assert sorted(REJECTIONS) == sorted(REASONS)


@pytest.mark.parametrize("reason", sorted(REJECTIONS))
def test_each_rejection_has_its_reason(reason):
    got = decode_for(REJECTIONS[reason](), "loss", VERSION, builtin_spec("mse"))
    assert isinstance(got, Rejected) and got.reason == reason, got
    assert got.reason == "empty" or got.detail


def _check_never_raises(payload: bytes) -> None:
    got = decode(payload)
    assert isinstance(got, Decoded | Rejected)
    if isinstance(got, Rejected):
        assert got.reason in REASONS
    else:
        make_task(got.task, spec=got.spec)  # a decoded program fits its task


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_PAYLOAD + 16))
def test_random_bytes_never_raise(payload):
    _check_never_raises(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_a_valid_header_before_random_bytes_never_raises(tail):
    _check_never_raises(payload_of("mse")[:HEADER_BYTES] + tail)


EDITS = ("flip", "insert", "delete", "truncate")


def _edit(payload: bytes, edit: str, where: int, value: int) -> bytes:
    i = where % (len(payload) + 1)
    if edit == "flip" and i < len(payload):
        return payload[:i] + bytes([payload[i] ^ (value or 1)]) + payload[i + 1 :]
    if edit == "insert":
        return payload[:i] + bytes([value]) + payload[i:]
    if edit == "delete":
        return payload[:i] + payload[i + 1 :]
    return payload[:i]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(BUILTINS)),
    st.lists(
        st.tuples(st.sampled_from(EDITS), st.integers(0, 400), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_payloads_never_raise(name, edits):
    payload = payload_of(name)
    for edit in edits:
        payload = _edit(payload, *edit)
    _check_never_raises(payload)


def _documented_budget() -> dict[str, int]:
    table = commitment.__doc__.split("Byte budget")[1].split("\n\n")[1]
    rows = re.findall(r"^ {4}(\S.*?) {2,}(\d+)(?: bytes)?$", table, re.MULTILINE)
    return {label: int(n) for label, n in rows}


def _most_instructions_within(limit: int) -> int:
    """Most live instructions of the loss spec's shape whose commitment fits ``limit`` bytes."""
    spec = dataclasses.replace(builtin_spec("mse"), max_length=MAX_PAYLOAD // 4)
    n = 0
    while _size(spec, n + 1) <= limit:
        n += 1
    return n


def _size(spec: ProgramSpec, n: int) -> int:
    try:
        return len(encode("loss", VERSION, spec, chain_program(spec, n)))
    except ValueError as e:
        assert "more than the" in str(e)
        return MAX_PAYLOAD + 1


def test_the_documented_byte_budget_is_what_the_code_computes():
    assert HEADER_BYTES == 11
    computed = {}
    for name in ("cross_entropy", "adam"):
        length = int(canonicalize(builtin_spec(name), builtin(name)).length)
        computed[f"builtin:{name} ({length} instructions)"] = len(payload_of(name))
    for task in TASK_CODES:
        spec = make_task(task).spec
        payload = encode(task, VERSION, spec, chain_program(spec, spec.max_length))
        assert isinstance(decode(payload), Decoded)
        computed[f"largest {task} program ({spec.max_length} instructions)"] = len(payload)
    field = f"loss-spec instructions that fit one {MAX_FIELD_BYTES}-byte field"
    computed[field] = _most_instructions_within(MAX_FIELD_BYTES)
    computed[f"loss-spec instructions that fit {MAX_PAYLOAD} bytes"] = _most_instructions_within(
        MAX_PAYLOAD
    )
    assert _documented_budget() == computed
