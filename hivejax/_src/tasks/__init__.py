"""Tasks: what a program is used for, and how its fitness is measured."""
