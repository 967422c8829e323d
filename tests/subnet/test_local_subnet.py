"""The neurons as processes: their command lines, a whole local subnet, and a validator
killed mid-evaluation. Every process is real: ``python -m hivejax subnet ...`` on one
SQLite chain file."""

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.subnet.commitment import encode
from hivejax._src.subnet.local_chain import LocalChain
from hivejax._src.subnet.reveal import make_hash_commitment, make_reveal, new_salt
from hivejax._src.subnet.validator import Validator, ValidatorConfig
from hivejax._src.tasks.registry import builtin, builtin_spec
from hivejax.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOCOL = get_protocol("local-optimizer")
HIVEJAX = [sys.executable, "-m", "hivejax"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["subnet", "validator", "--out", "v"], 2, "--chain.path"),
        (["subnet", "miner", "--out", "m", "--protocol", "nope"], 2, "unknown protocol"),
        (["subnet", "miner", "--out", "m", "--protocol", "local-optimizer"], 2, "not loss"),
        (
            ["subnet", "miner", "--out", "m", "--population", "0"],
            2,
            "population must be at least 2",
        ),
        (
            ["subnet", "miner", "--out", "m", "--finalists", "0"],
            2,
            "finalists must be a positive integer",
        ),
        (["subnet", "local", "--miners", "1", "--miner-programs", "a", "b"], 2, "2 miner programs"),
        (["subnet", "miner", "--out", "m", "--seed-programs", "builtin:nope"], 2, "nope"),
    ],
)
def test_neuron_flag_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    got, out, err = run_cli(capsys, *argv)
    assert got == code and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_network_wallet_that_does_not_exist_says_how_to_create_it(capsys, tmp_path):
    argv = ["subnet", "miner", "--out", str(tmp_path / "m"), "--subtensor.network", "test"]
    argv += ["--wallet.path", str(tmp_path / "wallets"), "--wallet.name", "w"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and "btcli wallet create" in err and err.count("\n") == 1


def test_a_file_that_is_not_a_chain_is_refused(capsys, tmp_path):
    bad = tmp_path / "chain.sqlite"
    bad.write_text("not a database")
    argv = ["subnet", "validator", "--out", str(tmp_path / "v"), "--chain.path", str(bad)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and str(bad) in err and err.count("\n") == 1
    assert bad.read_text() == "not a database"


@pytest.mark.parametrize("role", ["miner", "validator"])
def test_the_neuron_scripts_are_the_subnet_commands(role):
    out = subprocess.run(
        [sys.executable, str(ROOT / "neurons" / f"{role}.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in ("--netuid", "--subtensor.network", "--wallet.name", "--wallet.hotkey"):
        assert flag in out
    assert f"hivejax subnet {role}" in out


def _wait_for(path: pathlib.Path, text: str, timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}: {path.read_text()}")
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


LOCAL = ["subnet", "local", "--miners", "2", "--validators", "1", "--task", "optimizer"]
LOCAL += ["--protocol", "local-optimizer", "--blocks-per-second", "2", "--population", "8"]
LOCAL += ["--generations", "2", "--interval", "3", "--no-progress"]
LOCAL += ["--miner-programs", "builtin:lion", "builtin:sgd_momentum", "--copiers", "1"]


def _wait_until_scored(status: pathlib.Path, hotkey: str, process, timeout=600.0) -> None:
    """Wait until the validator's ``status.json`` shows ``hotkey``'s program scored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            entry = json.loads(status.read_text())["entries"].get(hotkey, {})
        except (OSError, ValueError, KeyError):
            entry = {}
        if entry.get("state") == "scored":
            return
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}")
        time.sleep(0.5)
    raise AssertionError(f"{hotkey} not scored in {status} after {timeout} s")


def _kill_all(directory: pathlib.Path, *processes) -> None:
    """Leave nothing running, whatever failed: the orchestrator and the neurons it started
    in their own sessions."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    path = directory / "processes.json"
    for pid in json.loads(path.read_text()).values() if path.exists() else ():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_local_subnet_pays_the_better_miner_and_resumes_after_ctrl_c(tmp_path):
    directory = tmp_path / "subnet"
    cmd = [*HIVEJAX, *LOCAL, "--dir", str(directory)]
    # Started as a shell without job control starts a background job, with SIGINT ignored:
    # Ctrl-C must still stop it.
    ignoring_sigint = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
    first = subprocess.Popen(
        [*ignoring_sigint, *cmd, "--minutes", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Stopped once the compiling is done and paid: miner-0 revealed, the validator
        # scored it and set weights (on the chain file, which the second run reads on).
        _wait_for(directory / "logs" / "miner-0.log", "revealed", 600, first)
        _wait_for(directory / "logs" / "validator-0.log", "set weights", 600, first)
        # ... and the copier republished miner-0's program and the validator scored it
        _wait_until_scored(directory / "validator-0" / "status.json", "local/copier-0", first)
        first.send_signal(signal.SIGINT)  # as Ctrl-C in its terminal
        _, err = first.communicate(timeout=120)
    finally:
        _kill_all(directory, first)
    assert first.returncode == 130 and "run the same command again" in err
    assert "Traceback" not in err
    pids = json.loads((directory / "processes.json").read_text())
    assert len(pids) == 3 and not any(_alive(pid) for pid in pids.values())
    rounds = json.loads((directory / "miner-0" / "miner.json").read_text())["round"]

    try:
        second = subprocess.run(
            # Long enough for miner-0 to finish a round under load: the neurons load what
            # the first run compiled from the session's persistent compilation cache.
            [*cmd, "--minutes", "1"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        _kill_all(directory)
    assert second.returncode == 0, second.stderr
    assert "emissions:" in second.stdout
    result = json.loads((directory / "result.json").read_text())
    weights = result["weights"]["local/validator-0"]
    assert weights.get("local/miner-0", 0.0) > weights.get("local/miner-1", 0.0)
    emissions = result["emissions"]
    assert emissions["local/miner-0"] > emissions["local/miner-1"]
    # the copier republished miner-0's program, disguised, and earns nothing
    (copier,) = (r for r in result["leaderboard"] if r["hotkey"] == "local/copier-0")
    assert copier["reason"] in ("copy", "no_new_gain"), copier
    assert weights.get("local/copier-0", 0.0) == 0.0 and emissions["local/copier-0"] == 0.0
    state = json.loads((directory / "miner-0" / "miner.json").read_text())
    assert state["round"] > rounds  # the miner went on from its saved rounds
    assert state["publish"]["hash_block"] < state["publish"]["reveal_block"]


def test_a_validator_killed_mid_evaluation_restarts_without_double_counting(tmp_path):
    chain = LocalChain(tmp_path / "chain.sqlite", blocks_per_second=0.0)
    chain.register("local/validator", stake=1.0, validator=True)
    for hotkey in ("alice", "bob", "copier"):
        chain.register(hotkey)
    directory = tmp_path / "validator"
    config = ValidatorConfig(protocol=PROTOCOL)
    salts, hash_blocks = {}, {}
    programs = {"alice": "lion", "bob": "sgd_momentum", "copier": "lion"}
    for hotkey, name in programs.items():  # the copier's hash comes a block later
        salts[hotkey] = new_salt()
        data = encode("optimizer", PROTOCOL.version, builtin_spec(name), builtin(name))
        hash_blocks[hotkey] = chain.commit(
            hotkey, make_hash_commitment(data, salts[hotkey], hotkey)
        )
        Validator(chain, "local/validator", directory, config).watch()
        chain.advance(1)
    for hotkey, name in programs.items():
        data = encode("optimizer", PROTOCOL.version, builtin_spec(name), builtin(name))
        chain.commit(hotkey, make_reveal(data, salts[hotkey], hash_blocks[hotkey]))
    chain.advance(1)

    cmd = [*HIVEJAX, "subnet", "validator", "--chain.path", str(chain.path)]
    cmd += ["--wallet.name", "local", "--wallet.hotkey", "validator", "--task", "optimizer"]
    cmd += ["--protocol", PROTOCOL.name, "--out", str(directory), "--steps", "1"]
    log = tmp_path / "validator.log"
    with open(log, "w") as out:
        killed = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(log, "evaluating", 120, killed)
    finally:
        killed.kill()
        killed.wait()
    assert chain.weights() == {}

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads((directory / "status.json").read_text())
    assert status["ranking"] == ["alice"]
    assert status["entries"]["copier"]["reason"] == "copy"
    assert status["entries"]["alice"]["priority_block"] == 0
    uid = {h: chain.uid(h) for h in ("local/validator", "alice")}
    assert chain.weights() == {uid["local/validator"]: {uid["alice"]: 65535}}
    with sqlite3.connect(directory / "ledger.sqlite") as db:
        rows = db.execute("SELECT program, seeds, COUNT(*) FROM seeded_evaluations GROUP BY 1, 2")
        counts = [n for *_, n in rows]
    assert counts == [1, 1]  # lion and heavy ball, once each; the copy shares lion's
