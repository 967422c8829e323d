"""Running the engine on many devices and hosts: meshes, islands, checkpoints, processes."""
