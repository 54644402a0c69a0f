from .progress import DDRMProgressBar
from .writer import RestorationWriter, image_path, save_png

__all__ = ["DDRMProgressBar", "RestorationWriter", "image_path", "save_png"]
