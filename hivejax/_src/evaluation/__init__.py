"""Evaluated: scores paired with the baseline, protocols, the rejection cascade, fingerprints,
the equivalence cache and the device mesh a population is scored on."""
