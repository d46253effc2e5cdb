"""gan_course: the small helper package behind the notebooks of the course on adversarial and
variational generative models for language.

Modules (import what you need; nothing runs at import time):
    runtime     device, seeds, CPU threads, FAST mode          results     named results for run-all
    plots       figure style, LivePlot                         widgets     every ipywidgets control
    train       loop with callbacks, DivergenceGuard           checkpoint  atomic save, safe load
    run_all     `python -m gan_course run-all`
    translation seq2seq with attention, adversarial NMT, unpaired MT (lessons 12-14)
"""
__version__ = "0.1.0"
