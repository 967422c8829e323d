"""The validator's ledger: first sightings own a program, evaluations and priorities
survive a killed validator, and files that are not ledgers are refused."""

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from hivejax._src.subnet.ledger import Ledger

VERSION = "0123456789ab"


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite")


def test_the_earliest_sighting_owns_a_fingerprint(ledger):
    assert ledger.owner("f") is None and ledger.priority("f") is None
    ledger.record("honest", "f", 100, payload_hash="aa")
    ledger.record("copier", "f", 130)
    assert ledger.owner("f") == "honest"
    # the honest miner re-commits an equivalent program later: its priority stays
    ledger.record("honest", "f", 500, payload_hash="bb")
    assert ledger.priority("f") == ("honest", 100)
    # the copier re-committing changes nothing either
    ledger.record("copier", "f", 140)
    assert ledger.first_block("f", "copier") == 130


def test_an_earlier_sighting_replaces_a_later_one(ledger):
    ledger.record("b", "f", 50)
    ledger.record("a", "f", 60)
    ledger.record("a", "f", 40)  # e.g. a reveal whose hash was committed at block 40
    assert ledger.priority("f") == ("a", 40)


def test_ties_are_broken_by_hotkey(tmp_path):
    for order in (("zed", "amy"), ("amy", "zed")):
        ledger = Ledger(tmp_path / f"{order[0]}.sqlite")
        for hotkey in order:
            ledger.record(hotkey, "f", 7)
        assert ledger.owner("f") == "amy"


def test_hashes_keep_their_first_block(ledger):
    assert ledger.hash_block("m", "d") is None
    ledger.record_hash("m", "d", 20)
    ledger.record_hash("m", "d", 90)
    assert ledger.hash_block("m", "d") == 20
    assert ledger.hash_block("other", "d") is None


def test_the_latest_reveal_stands_and_an_older_ledger_gains_its_table(ledger):
    assert ledger.last_reveal("m") is None
    ledger.record_reveal("m", b"first", priority_block=10, block=20)
    ledger.record_reveal("m", b"second", priority_block=30, block=40)
    ledger.record_reveal("m", b"stale", priority_block=5, block=35)  # read late: ignored
    assert ledger.last_reveal("m") == (b"second", 30)
    conn = sqlite3.connect(ledger.path)  # a ledger written before the table existed
    with conn:
        conn.execute("DROP TABLE reveals")
    conn.close()
    reopened = Ledger(ledger.path)
    assert reopened.last_reveal("m") is None
    reopened.record_reveal("m", b"again", priority_block=50, block=60)
    assert reopened.last_reveal("m") == (b"again", 50)


def test_an_evaluation_is_stored_once(ledger):
    assert ledger.get_evaluation("f", "0x03", VERSION) is None
    assert ledger.put_evaluation("f", "0x03", VERSION, {"mean": 0.02, "per_seed": [0.01, 0.03]})
    assert not ledger.put_evaluation("f", "0x03", VERSION, {"mean": 0.5})  # the first stands
    assert ledger.get_evaluation("f", "0x03", VERSION) == {"mean": 0.02, "per_seed": [0.01, 0.03]}
    assert ledger.get_evaluation("f", "0x04", VERSION) is None
    assert ledger.get_evaluation("f", "0x03", "ba9876543210") is None


def test_a_ledger_from_before_block_hash_seeds_gains_the_table(ledger):
    conn = sqlite3.connect(ledger.path)
    with conn:  # the layout before: evaluations keyed by public epoch numbers
        conn.execute("DROP TABLE seeded_evaluations")
        conn.execute(
            "CREATE TABLE evaluations (fingerprint TEXT, epoch INTEGER, protocol_version TEXT,"
            " scores TEXT)"
        )
    conn.close()
    reopened = Ledger(ledger.path)
    assert reopened.put_evaluation("f", "0x03", VERSION, {"mean": 0.1})
    assert reopened.get_evaluation("f", "0x03", VERSION) == {"mean": 0.1}


@pytest.mark.parametrize(
    "call",
    [
        lambda led: led.record("h", "f", -1),
        lambda led: led.record("h", "f", True),
        lambda led: led.record_hash("h", "d", 1.5),
        lambda led: led.put_evaluation("f", 2, VERSION, {}),
        lambda led: led.put_evaluation("f", "0x1", VERSION, {"mean": float("nan")}),
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(ledger, call):
    with pytest.raises(ValueError):
        call(ledger)
    assert ledger.owner("f") is None and ledger.get_evaluation("f", "0x1", VERSION) is None


def test_the_file_is_in_wal_mode(ledger):
    with sqlite3.connect(ledger.path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert mode == "wal"


def test_garbage_and_foreign_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="garbage.sqlite"):
        Ledger(garbage)
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    with conn:
        conn.execute("CREATE TABLE chain (block INTEGER)")
    conn.close()
    with pytest.raises(ValueError, match="foreign.sqlite.*chain"):
        Ledger(foreign)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    conn.close()
    with pytest.raises(ValueError, match="other.sqlite.*something-else"):
        Ledger(other)


def test_an_empty_file_becomes_a_ledger(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    Ledger(path).record("h", "f", 1)
    assert Ledger(path).owner("f") == "h"


KILLED = """
import os, signal, sqlite3
from hivejax._src.subnet.ledger import Ledger
ledger = Ledger({path!r})
ledger.record("honest", "f", 100)
ledger.record_hash("honest", "d", 90)
ledger.put_evaluation("f", "0x07", {version!r}, {{"mean": 0.03}})
# killed in the middle of a write: an open transaction that never commits
conn = sqlite3.connect({path!r})
conn.execute("INSERT INTO sightings VALUES ('g', 'late', 300, NULL)")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_validator_keeps_priorities_and_evaluations(tmp_path):
    path = str(tmp_path / "ledger.sqlite")
    script = textwrap.dedent(KILLED.format(path=path, version=VERSION))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    reopened = Ledger(path)
    assert reopened.priority("f") == ("honest", 100)
    assert reopened.hash_block("honest", "d") == 90
    assert reopened.get_evaluation("f", "0x07", VERSION) == {"mean": 0.03}
    assert reopened.owner("g") is None  # the uncommitted write is gone
    assert not reopened.put_evaluation("f", "0x07", VERSION, {"mean": 0.9})  # nothing repeats
    reopened.record("copier", "f", 400)
    assert reopened.owner("f") == "honest"
