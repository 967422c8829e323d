"""Represented: a program as fixed-shape arrays, its op table, identity, formats and formula."""
