"""Fine-tune or train a diffusion prior: python train.py --config configs/train/<name>.yaml [--trainer.devices 4]."""

import sys

from ddrm_lightning.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
