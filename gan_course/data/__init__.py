"""Data sets of the course, one module per family; nothing is downloaded (see data/README.md)."""
