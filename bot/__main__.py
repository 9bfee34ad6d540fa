"""``python -m bot`` is the same as the ``diplowatch`` command."""

from bot.cli import main

raise SystemExit(main())
