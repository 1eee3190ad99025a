"""``python -m fcmatch.cli`` runs the same CLI as ``fcmatch`` and ``python -m fcmatch``."""

import sys

from fcmatch.cli import main

sys.exit(main())
