"""`python -m gan_course book | student | links`: the command lines of the editions (see their modules).

Errors in the input or output (a missing folder, an output that cannot be written, a notebook that is not
valid JSON) end with one line naming the path and exit status 2; nothing half-written is left behind.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
COMMANDS = ("book", "student", "links")
SUMMARY = """
editions (python -m gan_course <command> --help for each):
  book       build the static web book of the committed notebooks (build/book/index.html)
  student    write the student edition: solutions removed, exercise outputs cleared (build/student/)
  links      add or refresh the "open in Colab / Binder" line at the top of each notebook
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_course", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("book", help="build the static web book (Sphinx + MyST-NB) of the committed notebooks")
    b.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the notebooks")
    b.add_argument("--output", type=Path, default=ROOT / "build" / "book", help="site folder (default build/book)")
    b.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README for the front pages")
    b.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    s = sub.add_parser("student", help="write the student edition of the notebooks (no solutions)")
    s.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the teacher notebooks")
    s.add_argument("--output", type=Path, default=ROOT / "build" / "student",
                   help="folder for the student notebooks (default build/student)")
    ln = sub.add_parser("links", help="add/refresh the hosted-notebook line at the top of each notebook")
    ln.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the notebooks")
    ln.add_argument("--only", nargs="+", default=None, metavar="NN", help="notebook numbers, e.g. 14 15")
    ln.add_argument("--repository", default=None,
                    help="the course's GitHub address (default: [tool.gan_course] repository in pyproject.toml)")
    ln.add_argument("--branch", default=None, help="branch the links open (default: from pyproject.toml)")
    return p


def main(argv=None) -> int:
    from .common import EditionError

    args = parser().parse_args(argv)
    try:
        if args.command == "book":
            from .book import build_book

            result = build_book(args.notebooks, args.output, args.readme, quiet=not args.verbose)
            for w in result["warnings"]:
                print(f"warning: {w}")
            print(f"web book: {len(result['pages'])} pages in {result['seconds']} s; "
                  f"open {Path(args.output) / 'index.html'}")
        elif args.command == "student":
            from .student import write_student_edition

            paths = write_student_edition(args.notebooks, args.output)
            print(f"student edition: {len(paths)} notebooks in {args.output}")
        else:
            from .hosted import add_links

            changed = add_links(args.notebooks, only=args.only, repository=args.repository, branch=args.branch)
            print(f"hosted-notebook links: {len(changed)} notebooks changed" +
                  (f" ({', '.join(p.name for p in changed)})" if changed else " (all up to date)"))
    except EditionError as exc:
        print(f"python -m gan_course {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
