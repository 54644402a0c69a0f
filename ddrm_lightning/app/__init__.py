"""The local web page (``python -m ddrm_lightning.app``): restore one's own photos in a browser.

It needs the ``app`` extra (Gradio); importing this package alone imports nothing of Gradio.
"""
