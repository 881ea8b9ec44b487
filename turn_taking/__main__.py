import sys

from turn_taking.cli import main

sys.exit(main())
