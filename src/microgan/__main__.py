"""``python -m microgan`` is the ``microgan`` command."""
from microgan.cli import main

raise SystemExit(main())
