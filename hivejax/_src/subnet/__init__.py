"""The subnet layer: chain rules, the ``Chain`` interface, local chains and on-chain payloads."""
