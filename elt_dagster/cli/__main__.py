"""`python -m elt_dagster.cli`: the `elt-dagster` command."""

import sys

from elt_dagster.cli import main

sys.exit(main())
