"""`python -m actions`: the GitHub Action's step, as `provenfix action`."""

from __future__ import annotations

import sys

from provenfix.actions.main import main

if __name__ == "__main__":
    sys.exit(main())
