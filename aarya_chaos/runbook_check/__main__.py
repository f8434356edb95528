import sys

from aarya_chaos.runbook_check.cli import main

sys.exit(main())
