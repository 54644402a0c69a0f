"""Restore images with DDRM: python restore.py [--config configs/<experiment>.yaml] [--trainer.devices 4]."""

import sys

from ddrm_lightning.cli import main

if __name__ == "__main__":
    sys.exit(main())
