from .progress import DDRMProgressBar
from .writer import RestorationWriter, save_png

__all__ = ["DDRMProgressBar", "RestorationWriter", "save_png"]
