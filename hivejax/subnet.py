"""hivejax.subnet: miners, validators and chains of the Hivetrain subnet.

The implementation lives in ``hivejax._src.subnet``; this module re-exports what a user
of the subnet layer needs. The bittensor adapter (``open_chain`` with a network other than
``local``) needs the ``[neurons]`` extra; nothing here imports bittensor.

Example:
  >>> import hivejax.subnet as hs
  >>> chain = hs.MemoryChain()
  >>> chain.register("validator", stake=1.0, validator=True)
  0
"""

from hivejax._src.evaluation.fingerprint import Fingerprint, fingerprint, fingerprints
from hivejax._src.subnet.chain import Chain, Commitment, Metagraph, Neuron
from hivejax._src.subnet.commitment import Decoded, Rejected, decode, decode_for, encode
from hivejax._src.subnet.connect import join, local_hotkey, open_chain
from hivejax._src.subnet.consensus import yuma
from hivejax._src.subnet.copier import Copier, near_copy
from hivejax._src.subnet.ledger import Ledger
from hivejax._src.subnet.local_chain import LocalChain
from hivejax._src.subnet.local_subnet import LocalSubnetConfig, run_local_subnet
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.miner import Miner, MinerConfig
from hivejax._src.subnet.reveal import make_hash_commitment, make_reveal, new_salt, observe
from hivejax._src.subnet.rules import ChainError, ErrorCode, normalize_weights
from hivejax._src.subnet.scoring import Candidate, Scores, score
from hivejax._src.subnet.validator import Validator, ValidatorConfig

__all__ = [
    "Candidate",
    "Chain",
    "ChainError",
    "Commitment",
    "Copier",
    "Decoded",
    "ErrorCode",
    "Fingerprint",
    "Ledger",
    "LocalChain",
    "LocalSubnetConfig",
    "MemoryChain",
    "Metagraph",
    "Miner",
    "MinerConfig",
    "Neuron",
    "Rejected",
    "Scores",
    "Validator",
    "ValidatorConfig",
    "decode",
    "decode_for",
    "encode",
    "fingerprint",
    "fingerprints",
    "join",
    "local_hotkey",
    "make_hash_commitment",
    "make_reveal",
    "near_copy",
    "new_salt",
    "normalize_weights",
    "observe",
    "open_chain",
    "run_local_subnet",
    "score",
    "yuma",
]
