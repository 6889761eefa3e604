"""`python -m graphmill.cli`: the same as the `graphmill` command."""

import sys

from graphmill.cli import main

sys.exit(main())
