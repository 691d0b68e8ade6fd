import sys

from jenacast.cli import main

sys.exit(main())
