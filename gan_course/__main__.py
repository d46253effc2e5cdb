"""`python -m gan_course run-all | env` (gan_course/run_all.py) and `book | student | links`
(gan_course/editions/cli.py)."""
import sys

from .editions import cli as editions_cli
from .run_all import main as run_all_main


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in editions_cli.COMMANDS:
        return editions_cli.main(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(editions_cli.SUMMARY)
    return run_all_main(argv)


if __name__ == "__main__":
    sys.exit(main())
