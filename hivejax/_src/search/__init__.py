"""Searched: variation, strategies, one generation, islands and the tuning of constants."""
