"""The ``hivejax`` command line."""
