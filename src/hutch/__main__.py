"""`python -m hutch` runs the command line."""

from hutch.cli.main import main

raise SystemExit(main())
