"""`python -m gan_course run-all ...`: see gan_course/run_all.py."""
import sys

from .run_all import main

sys.exit(main())
