"""``python -m interhandgen_core.hands.procedural``: regenerate the procedural hand asset (hands/procedural/command.py)."""

import sys

from interhandgen_core.hands.procedural.command import main

sys.exit(main())
