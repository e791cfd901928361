"""`python -m hitwatch.generate`: see hitwatch.generate."""

import sys

from hitwatch.generate import main

sys.exit(main())
