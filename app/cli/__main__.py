"""`python -m app.cli`: the `capstan` command line."""

import sys

from app.cli.main import main

sys.exit(main())
