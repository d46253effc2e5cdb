"""Editions of the course built from the committed notebooks (no re-execution):

- `book.py`: a static HTML web book (Sphinx + MyST-NB), `python -m gan_course book`;
- `student.py`: student copies without the solutions, `python -m gan_course student`;
- `hosted.py`: the "open in Colab / Binder" line at the top of each notebook, `python -m gan_course links`.

`common.py` holds what they share: reading notebooks with a clear error, and writing an output folder
atomically (a failed build leaves nothing half-written).
"""
