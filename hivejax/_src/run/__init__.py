"""Run: a search from its config through the generation loop to its summary, with
checkpoints, many processes and the run directory."""
