"""TEMPORARY (replaced by the draw branch): image files as the 28x28 the model expects."""
import numpy as np
from PIL import Image

from .errors import InvalidInput


class ImageError(InvalidInput):
    """An image that cannot be read or used."""


def load_image(path, invert="auto"):
    """Read any Pillow image as a (28, 28) uint8 array, white-on-black like MNIST."""
    try:
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError("%s is not an image Pillow can read (%s)." % (path, err)) from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if invert == "yes" or (invert == "auto" and border.mean() > 127):
        gray = 255 - gray
    h, w = gray.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = gray
    if side != 28:
        square = np.asarray(Image.fromarray(square).resize((28, 28), Image.LANCZOS))
    return square
