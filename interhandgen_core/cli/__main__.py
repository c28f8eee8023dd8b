"""`python -m interhandgen_core.cli`: the same as the `interhandgen` command."""

from interhandgen_core.cli import main

raise SystemExit(main())
