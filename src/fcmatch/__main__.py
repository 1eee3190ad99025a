import sys

from fcmatch.cli import main

sys.exit(main())
