"""Which chain a neuron talks to, and joining it: the one place the network flag is read.

``local`` is the SQLite chain of ``local_chain`` (one subnet per file, so ``netuid`` is not
used); a neuron's hotkey there is the name ``<wallet name>/<wallet hotkey>``, with no key
files, and a neuron registers itself when it starts (a validator with a permit and a stake
of 1). Any other network (``test``, ``finney``, or a ``ws://`` endpoint) is reached
through bittensor (the ``[neurons]`` extra) with the wallet's real keys; there, registration
is done beforehand with ``btcli``.
"""

import os

from hivejax._src.subnet.chain import Chain
from hivejax._src.subnet.local_chain import LocalChain

LOCAL = "local"
VALIDATOR_STAKE = 1.0
"""The stake a validator registers itself with on a local chain."""


def open_chain(
    network: str,
    *,
    netuid: int,
    wallet_name: str,
    wallet_hotkey: str,
    wallet_path: str | None = None,
    chain_path: str | os.PathLike | None = None,
    blocks_per_second: float | None = None,
) -> tuple[Chain, str]:
    """The chain of ``network`` and the hotkey this neuron acts as on it.

    ``chain_path`` (local only, required there) is the chain file, created if missing with
    ``blocks_per_second`` (see ``LocalChain``). A network chain needs bittensor: without the
    ``[neurons]`` extra this raises ``ValueError`` saying how to install it.
    """
    if network == LOCAL:
        if chain_path is None:
            raise ValueError("a local network needs the chain file (--chain.path FILE)")
        return LocalChain(chain_path, blocks_per_second=blocks_per_second), local_hotkey(
            wallet_name, wallet_hotkey
        )
    try:  # late: bittensor is the [neurons] extra, needed only for a network chain
        from hivejax._src.subnet.bittensor_chain import connect
    except ImportError as e:
        raise ValueError(
            f"network {network!r} needs bittensor ({e}); install it with "
            "pip install 'hivejax[neurons]'"
        ) from None
    chain = connect(network, netuid, wallet_name, wallet_hotkey, wallet_path)
    return chain, chain.hotkey


def local_hotkey(wallet_name: str, wallet_hotkey: str) -> str:
    """The hotkey of a wallet on a local chain: ``<name>/<hotkey>``."""
    return f"{wallet_name}/{wallet_hotkey}"


def join(chain: Chain, hotkey: str, validator: bool) -> int:
    """This neuron's uid on ``chain``: a local chain registers it if needed; on a network
    an unregistered hotkey is a ``ValueError`` that says how to register with btcli."""
    if isinstance(chain, LocalChain):
        return chain.register(hotkey, VALIDATOR_STAKE if validator else 0.0, validator)
    uid = chain.uid(hotkey)
    if uid is None:
        raise ValueError(
            f"hotkey {hotkey} is not registered on {chain!r}; register it first with "
            "`btcli subnets register --netuid N --wallet.name W --wallet.hotkey H`"
        )
    return uid
