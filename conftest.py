"""pytest set-up for the whole repository: notebooks run by nbval in FAST, headless mode.

`python -m pytest` (the README's test command) collects tests/ and notebooks/ (see pyproject.toml).
Exported values win, so `GAN_COURSE_FAST=0 python -m pytest notebooks` validates the full runs.
"""
import os

os.environ.setdefault("GAN_COURSE_FAST", "1")
os.environ.setdefault("GAN_COURSE_HEADLESS", "1")
