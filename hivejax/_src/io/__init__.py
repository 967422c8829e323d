"""Programs in and out: by name or file, the original subnet's DEAP genomes, and standalone
source code."""
