"""Implementation modules of hivejax; the public surface is ``hivejax`` itself."""
