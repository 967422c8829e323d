"""The identity of the builtins is pinned: hashes, binary bytes and JSON bytes.

A program's hash is how the subnet names it, and its bytes are what travels on chain, so
moving code around must not change either. ``golden/builtins.json`` was written from the
code before the modules were reorganised; regenerate it only for a deliberate format
change, with a new format version.
"""

import hashlib
import json
import pathlib

import pytest

import hivejax as hj

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "builtins.json").read_text())


def test_every_builtin_is_pinned():
    assert set(GOLDEN) == set(hj.BUILTINS)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_builtin_bytes_and_hash_are_unchanged(name):
    spec, program = hj.load_program(f"builtin:{name}")
    want = GOLDEN[name]
    assert hj.to_bytes(spec, program).hex() == want["bytes"]
    assert hj.canonical_hash(spec, program) == want["hash"]
    text = json.dumps(hj.to_json(spec, program), sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest() == want["json_sha256"]
