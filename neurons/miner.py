"""The Hivetrain miner: ``python neurons/miner.py --netuid 49 --subtensor.network finney
--wallet.name W --wallet.hotkey H --task loss --out DIR``.

The same command as ``hivejax subnet miner`` (``--help`` lists every flag); the logic lives
in ``hivejax.subnet.Miner``.
"""

import sys

from hivejax.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["subnet", "miner", *sys.argv[1:]]))
