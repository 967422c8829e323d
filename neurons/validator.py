"""The Hivetrain validator: ``python neurons/validator.py --netuid 49 --subtensor.network
finney --wallet.name W --wallet.hotkey H --task loss --out DIR``.

The same command as ``hivejax subnet validator`` (``--help`` lists every flag); the logic
lives in ``hivejax.subnet.Validator``.
"""

import sys

from hivejax.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["subnet", "validator", *sys.argv[1:]]))
