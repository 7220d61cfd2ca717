"""`python -m crm` entry point."""
import sys

from crm.cli import main

sys.exit(main())
