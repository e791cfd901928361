import sys

from hitwatch.cli import main

sys.exit(main())
