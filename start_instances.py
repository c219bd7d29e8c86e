#!/usr/bin/env python3
"""Create prodserver and devserver, write the inventory, and configure them. See --help."""

import sys

from provisioner.cli import main

if __name__ == "__main__":
    sys.exit(main())
