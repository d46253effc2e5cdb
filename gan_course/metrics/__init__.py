"""Metrics of the course, one module per family (mode coverage in 2-D, MMD, text metrics)."""
