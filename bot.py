"""Entry point and operator CLI: `python bot.py` serves; `python bot.py --help` lists sub-commands."""

from __future__ import annotations

import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())
