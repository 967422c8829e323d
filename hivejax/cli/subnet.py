"""``hivejax subnet miner|validator|local``: the neurons, and a whole subnet on one machine.

``neurons/miner.py`` and ``neurons/validator.py`` are these commands under the Bittensor
convention's names, with the same flags (``--netuid``, ``--subtensor.network``,
``--wallet.name``, ``--wallet.hotkey``, ...). Defaults come from ``MinerConfig``,
``ValidatorConfig`` and ``LocalSubnetConfig``.
"""

import logging
import pathlib
import signal
import sys

from rich.live import Live
from rich.table import Table

import hivejax as hj
import hivejax.subnet as hs
from hivejax.cli.flags import (
    UsageError,
    add_data_dir_flag,
    non_negative,
    positive,
    positive_float,
    usage,
)

_MINER = hs.MinerConfig()
_VALIDATOR = hs.ValidatorConfig()
_LOCAL = hs.LocalSubnetConfig()
DEFAULT_INTERVAL = 120.0
"""Seconds between a validator's intervals on a network (ten blocks)."""
DEFAULT_POLL = 6.0
"""Seconds between a validator's reads of the commitments (half a block)."""


def add_subnet(sub) -> None:
    p = sub.add_parser("subnet", help="run a miner, a validator, or a whole local subnet")
    roles = p.add_subparsers(dest="role", required=True, parser_class=type(p))
    miner = roles.add_parser("miner", help="evolve programs and publish the best on chain")
    _add_neuron_flags(miner)
    miner.add_argument("--population", type=positive, default=_MINER.population)
    miner.add_argument("--generations", type=positive, default=_MINER.generations, help="per round")
    miner.add_argument("--seed", type=int, default=_MINER.seed, help="the first round's seed")
    miner.add_argument(
        "--seed-programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="programs (paths or builtin:NAME) every round starts from, with those on chain",
    )
    miner.add_argument(
        "--reveal-after",
        type=positive,
        default=_MINER.reveal_after,
        help="blocks between committing a program's hash and revealing it",
    )
    miner.add_argument(
        "--refresh-blocks",
        type=positive,
        default=_MINER.refresh_blocks,
        help="blocks after which the hash and reveal of the current program repeat",
    )
    validator = roles.add_parser("validator", help="score the miners' programs, set weights")
    _add_neuron_flags(validator)
    validator.add_argument(
        "--interval", type=positive_float, default=DEFAULT_INTERVAL, help="seconds per interval"
    )
    validator.add_argument(
        "--poll", type=positive_float, default=DEFAULT_POLL, help="seconds between reads"
    )
    validator.add_argument(
        "--top",
        type=positive,
        default=_VALIDATOR.top,
        help="programs re-evaluated on each epoch's seeds",
    )
    _add_local(roles)


def _add_common(p) -> None:
    p.add_argument("--task", default=_LOCAL.task, choices=hj.TASKS, help="what programs define")
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="the shipped protocol programs are scored under (see `hivejax protocols`)",
    )
    add_data_dir_flag(p)


def _add_neuron_flags(p) -> None:
    p.add_argument("--netuid", type=non_negative, default=49, help="the subnet (49: Hivetrain)")
    p.add_argument(
        "--subtensor.network",
        dest="network",
        default="local",
        help="local (a SQLite chain file), test, finney, or a ws:// endpoint",
    )
    p.add_argument("--chain.path", dest="chain_path", metavar="FILE", help="local chain file")
    p.add_argument(
        "--chain.blocks-per-second",
        dest="blocks_per_second",
        type=float,
        help="clock of a new local chain file (default one block per 12 s)",
    )
    p.add_argument("--wallet.name", dest="wallet_name", default="default")
    p.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    p.add_argument("--wallet.path", dest="wallet_path", metavar="DIR", help="bittensor wallets")
    _add_common(p)
    p.add_argument("--out", type=pathlib.Path, required=True, help="the neuron's directory")
    p.add_argument("--steps", type=positive, help="stop after this many rounds or intervals")
    p.add_argument(
        "--logging.level",
        dest="log_level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )


def _add_local(roles) -> None:
    p = roles.add_parser("local", help="a whole subnet on this machine, on one SQLite chain")
    p.add_argument("--dir", type=pathlib.Path, default=pathlib.Path("hivejax-subnet"))
    p.add_argument("--miners", type=positive, default=_LOCAL.miners)
    p.add_argument("--validators", type=positive, default=_LOCAL.validators)
    p.add_argument("--minutes", type=positive_float, default=_LOCAL.minutes)
    p.add_argument(
        "--blocks-per-second",
        type=positive_float,
        help="clock of a new chain (default one block per 12 s); an existing chain keeps its "
        "own (leave this out, or give the same)",
    )
    _add_common(p)
    p.add_argument(
        "--miner-programs",
        nargs="+",
        default=[],
        metavar="PROGRAM",
        help="miner i starts from program i (paths or builtin:NAME)",
    )
    p.add_argument("--population", type=positive, default=_LOCAL.population)
    p.add_argument("--generations", type=positive, default=_LOCAL.generations)
    p.add_argument(
        "--interval", type=positive_float, default=_LOCAL.interval, help="validator seconds"
    )
    p.add_argument("--no-progress", action="store_true", help="print no live leaderboard")


def _protocol(args) -> hj.Protocol:
    with usage():
        protocol = hj.get_protocol(args.protocol or f"validator-{args.task}")
    if protocol.task != args.task:
        raise UsageError(
            f"protocol {protocol.name} scores {protocol.task} programs, not {args.task}"
        )
    return protocol


def _neuron(args, validator: bool):
    """The chain and this neuron's hotkey (registered on a local chain), then logging."""
    if args.network == "local" and args.chain_path is None:
        raise UsageError("a local network needs the chain file (--chain.path FILE)")
    chain, hotkey = hs.open_chain(
        args.network,
        netuid=args.netuid,
        wallet_name=args.wallet_name,
        wallet_hotkey=args.wallet_hotkey,
        wallet_path=args.wallet_path,
        chain_path=args.chain_path,
        blocks_per_second=args.blocks_per_second,
    )
    try:
        uid = hs.join(chain, hotkey, validator)
    except hs.ChainError as e:
        raise RuntimeError(f"{e.code.value}: {e}") from None
    # Configured only once the neuron is sure to run, so a refused command line leaves the
    # caller's logging as it was.
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,  # jax or absl may have configured the root logger on import
    )
    for noisy in ("absl", "jax", "orbax"):  # checkpoint and compile chatter at INFO
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    role = "validator" if validator else "miner"
    logging.getLogger("hivejax").info("%s %s is uid %d on %r", role, hotkey, uid, chain)
    return chain, hotkey


def _cmd_miner(args):
    protocol = _protocol(args)
    with usage():
        config = hs.MinerConfig(
            protocol=protocol,
            population=args.population,
            generations=args.generations,
            seed=args.seed,
            seed_programs=tuple(args.seed_programs),
            reveal_after=args.reveal_after,
            refresh_blocks=args.refresh_blocks,
            data_dir=args.data_dir,
        )
    chain, hotkey = _neuron(args, validator=False)
    hs.Miner(chain, hotkey, args.out, config).run(steps=args.steps)


def _cmd_validator(args):
    protocol = _protocol(args)
    with usage():
        config = hs.ValidatorConfig(protocol=protocol, top=args.top, data_dir=args.data_dir)
    chain, hotkey = _neuron(args, validator=True)
    hs.Validator(chain, hotkey, args.out, config).run(args.interval, args.poll, args.steps)


def _cmd_local(args):
    with usage():
        config = hs.LocalSubnetConfig(
            miners=args.miners,
            validators=args.validators,
            minutes=args.minutes,
            blocks_per_second=args.blocks_per_second,
            task=args.task,
            protocol=args.protocol,
            miner_programs=tuple(args.miner_programs),
            population=args.population,
            generations=args.generations,
            interval=args.interval,
            data_dir=args.data_dir,
        )
    print(
        f"local subnet in {args.dir}: {config.miners} miner(s), {config.validators} "
        f"validator(s), {config.protocol_of().name}, {config.minutes:g} minute(s); logs in "
        f"{args.dir / 'logs'}",
        flush=True,
    )
    with _board(enabled=not args.no_progress) as display:
        try:
            result = hs.run_local_subnet(args.dir, config, display)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"every neuron stopped; run the same command again to resume from {args.dir}"
            ) from None
    _print_result(result)


class _board:
    """The live leaderboard: redrawn in place on a terminal, else printed when it changes."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.live = None
        self.last = None

    def __enter__(self):
        if self.enabled and sys.stdout.isatty():
            self.live = Live(refresh_per_second=1)
            self.live.__enter__()
        return self.show if self.enabled else None

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def show(self, board: dict) -> None:
        if self.live is not None:
            self.live.update(_table(board))
            return
        rows = _plain(board["rows"])
        if rows != self.last:  # a new line only when a row changes, not every block
            print(f"block {board['block']} tempo {board['tempo']}\n{rows}", flush=True)
            self.last = rows


def _score_cells(row: dict) -> tuple[str, str, str]:
    mean = "" if row["mean"] is None else f"{row['mean']:+.4f}"
    bound = "" if row["lower_bound"] is None else f"{row['lower_bound']:+.4f}"
    rank = str(row["rank"]) if row["rank"] else (row["reason"] or "")
    return mean, bound, rank


def _table(board: dict):
    table = Table(title=f"block {board['block']}, tempo {board['tempo']}")
    for column in (
        "uid",
        "miner",
        "commitment",
        "mean",
        "lower bound",
        "rank",
        "emission",
        "program",
    ):
        table.add_column(column)
    for r in board["rows"]:
        mean, bound, rank = _score_cells(r)
        table.add_row(
            str(r["uid"]),
            r["hotkey"],
            r["commitment"],
            mean,
            bound,
            rank,
            f"{r['emission']:.3f}",
            r["formula"][:60],
        )
    return table


def _plain(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        mean, bound, rank = _score_cells(r)
        lines.append(
            f"  {r['hotkey']:<22} {r['commitment']:<10} mean {mean or '-':>8} "
            f"lb {bound or '-':>8} rank {rank or '-':<10} emission {r['emission']:.3f}"
        )
    return "\n".join(lines)


def _print_result(result: dict) -> None:
    print(f"final: block {result['block']}, tempo {result['tempo']}")
    for validator, row in result["weights"].items():
        text = ", ".join(f"{m} {w:.3f}" for m, w in row.items()) or "none"
        print(f"  weights of {validator}: {text}")
    if not result["weights"]:
        print("  no validator has set weights (nobody beat the baseline yet)")
    print("  emissions: " + ", ".join(f"{h} {s:.3f}" for h, s in result["emissions"].items()))


def cmd_subnet(args):
    # A process started in the background by a shell without job control inherits SIGINT
    # ignored, and Python then leaves it ignored: restore Ctrl-C, which the local subnet
    # also sends its neurons to stop them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        {"miner": _cmd_miner, "validator": _cmd_validator, "local": _cmd_local}[args.role](args)
    except hs.ChainError as e:
        raise RuntimeError(f"the chain refused: {e}") from None
