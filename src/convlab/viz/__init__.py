"""Pictures of convolution arithmetic: animations, overlap maps, worked examples.

PNG and GIF output needs Pillow (``pip install 'convlab[viz]'``); SVG output
and the text of the worked examples need nothing beyond NumPy.
"""

from ._animate import animate, frame_count
from ._notebook import Animation
from ._page import page_html, write_page
from ._scene import PictureTooLarge

__all__ = ["Animation", "PictureTooLarge", "animate", "frame_count", "page_html", "write_page"]
