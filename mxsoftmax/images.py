"""Any picture to what the model was trained on: a (28, 28) uint8 array, bright ink on black.

One path for every caller (``python -m mxsoftmax.predict``, the draw server): :func:`read_gray`
decodes with bounded memory and time, :func:`to_model_input` applies the dataset's own recipe,
:func:`load_image` does both.

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled, keeping its aspect ratio and
anti-aliased, so that its longest side is 20 pixels, then placed in a 28x28 field so that its
centre of mass is at the centre (pixel 14, 14; the test set's mean is 13.99, 14.01). Fashion-MNIST
(Zalando) trims the product, scales its longest side to 28 and centres its bounding box, so a run
trained on it gets that recipe: the same code with other numbers (``recipe`` in
:data:`mxsoftmax.catalog.DATASETS`).

Choices:

- Transparent pixels are background. Where a picture has alpha, it is composited over white if
  its opaque pixels are mostly dark (dark ink on a transparent sheet) and over black if they are
  mostly light (white strokes), so the ink shows either way; then ``invert`` decides as usual.
- ``invert="auto"`` inverts when the border is lighter than mid-gray (dark ink on paper).
- Dark strokes on light paper (a data set in :data:`STROKES`, inverted) are first divided by the
  paper's local brightness (:func:`flattened`), so that a lighting gradient, a soft shadow or the
  paper's texture is not taken for ink. Other data sets' items are filled shapes, which the
  paper's estimate would take for shadow, and light-on-dark pictures (MNIST's own, the draw
  page's) are used as they are.
- The background level (the median of the border) is subtracted and the contrast stretched so
  the brightest ink is 255; faint noise below :data:`INK_THRESHOLD` of that does not count when
  finding the ink's bounding box.
- A picture without ink (blank, or contrast below :data:`MIN_CONTRAST` levels) raises
  :class:`ImageError`: an all-zero image would still get a confident-looking but meaningless
  answer.
"""
import io
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from . import catalog
from .errors import ImageError, InvalidInput, InvalidType, translated
from .files import NotRegular, read_regular

MAX_BYTES = 20 * 2 ** 20     # largest file read; the draw server allows 1 MiB bodies
MAX_PIXELS = 40 * 10 ** 6    # largest width x height decoded (a 40-megapixel photo)
WORK_SIDE = 1024             # larger pictures are shrunk to this longest side right after decoding
FORMATS = ("PNG", "JPEG", "PPM", "BMP", "GIF", "TIFF", "WEBP")  # no EPS/PDF (Ghostscript) etc.
UNDECODABLE = (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError,
               MemoryError)  # what decoding a damaged or hostile picture raises (ImageError too)
INK_THRESHOLD = 0.2          # fraction of the brightest ink that counts for the bounding box
STROKES = ("mnist",)         # data sets of pen strokes: the light on their paper is flattened
PAPER_WINDOW = 1 / 6         # the paper's brightness is taken over this fraction of the longer side
PAPER_SIDE = 80              # ... on a copy averaged down to at most this many pixels a side
PAPER_NOISE = 4.5            # standard deviations of the paper's noise that are not ink
MAX_SCANS = 100              # most scans decoded in a JPEG (an ordinary progressive one has ~10)
SCAN_WORK = 1200 * 10 ** 6   # most scans x pixels decoded in a JPEG: 30 scans at 40 megapixels
MAX_DECODE = 200 * 2 ** 20   # most memory one decode may take (a 40-megapixel RGBA PNG: 160 MiB)
MAX_READS = 100000          # most reads of a picture's bytes (a 20 MiB JPEG takes a few hundred)
ORIENTATION = 0x0112         # the EXIF tag ImageOps.exif_transpose follows
SLOW_BYTES = 2 * 2 ** 20     # largest picture of a kind Pillow decodes in Python (plain PPM, ...)
BAND_PIXELS = 2 ** 18        # pixels converted at a time when shrinking a decoded picture
MIN_CONTRAST = 32            # gray levels between background and ink below which a picture is blank

# Pillow warns about the picture being decoded (corrupt EXIF or TIFF metadata, palette
# transparency): it is decoded as far as it goes or refused in one sentence, so its warnings,
# about a file the user cannot act on better, never reach stderr. One filter, on Pillow's modules.
warnings.filterwarnings("ignore", module=r"PIL(\.|$)")


def read_gray(source, name=None, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS):
    """Decode a file path or bytes into a float32 gray array (0-255), at most WORK_SIDE on a side.

    Bounded before decoding: more than ``max_bytes`` bytes or more than ``max_pixels`` pixels
    (read from the header) is refused, and so is anything Pillow calls a decompression bomb or
    whose decoding would cost far more than its size (:func:`_check_cost`, by the decoder that
    will run). JPEGs (and MPOs, which are JPEGs) are decoded at a reduced scale when large, other
    pictures shrunk by an integer factor right after decoding, a band of rows at a time; no step
    allocates more than a few bytes per original pixel. Safe to call from several threads at once.
    EXIF orientation is applied; 16-bit and float pictures are scaled to 8 bits.
    ``name`` is what messages call the picture (default: the path, or "the image").
    """
    name = _name(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(source, name, max_bytes)
    else:
        raise InvalidType("an image is read from a path or from bytes, not from %s."
                          % type(source).__name__)
    if len(data) > max_bytes:
        raise ImageError("%s is larger than %s MiB." % (name, _mib(max_bytes)), path=name)
    if not data:
        raise ImageError("%s is empty." % name, path=name)
    _check_profiles(data, name)
    _check_strips(data, name)
    with translated(UNDECODABLE, lambda err: _undecodable(err, name)), \
            Image.open(_Budgeted(data, name), formats=FORMATS) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageError("%s has %dx%d pixels; at most %d megapixels are accepted."
                             % (name, width, height, max_pixels // 10 ** 6), path=name)
        if _decoder(im) == "jpeg":  # decode at 1/2, 1/4 or 1/8 scale, colour straight to gray
            im.draft("L", (WORK_SIDE, WORK_SIDE))
        _check_cost(im, data, name, (width, height))
        im.load()
        small = _shrunk(im, name)
        small.getexif()[ORIENTATION] = im.getexif().get(ORIENTATION, 1)
    return _to_gray(ImageOps.exif_transpose(small))  # the full-size picture is freed by now


class _Budgeted(io.BytesIO):
    """The picture's bytes, read at most :data:`MAX_READS` times. Pillow walks a file's structure
    in Python, a read for each JPEG segment, PNG chunk, TIFF strip or PPM header byte, while its
    decoders read 64 KiB at a time: millions of tiny segments are refused after MAX_READS steps,
    in a fraction of a second, whatever the format."""

    def __init__(self, data, name):
        super().__init__(data)
        self.left, self.name = MAX_READS, name

    def read(self, *size):
        self.left -= 1
        if self.left < 0:
            raise ImageError("%s is made of more than %d pieces (segments, chunks or strips): save "
                             "it again as an ordinary PNG or JPEG." % (self.name, MAX_READS),
                             path=self.name)
        return super().read(*size)


def _check_profiles(data, name):
    """Refuse a PNG of more than one colour profile (iCCP chunk): Pillow inflates each, up to
    1 MB, and the PNG standard allows one. Walks the chunks' headers only, at most MAX_READS."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return
    i, profiles = 8, 0
    for _ in range(MAX_READS):
        if i + 8 > len(data):
            break
        profiles += data[i + 4:i + 8] == b"iCCP"
        i += 12 + int.from_bytes(data[i:i + 4], "big")
    if profiles > 1:
        raise ImageError("%s is a PNG of %d colour profiles (iCCP chunks; the standard allows "
                         "one): save it again." % (name, profiles), path=name)


def _check_strips(data, name):
    """Refuse a TIFF whose first directory declares more than MAX_READS strips or tiles: Pillow
    makes a Python object of each while it opens the file (5 million: 16 s and 1.5 GiB). Reads
    the directory's entries only (TIFF or BigTIFF, either byte order)."""
    order = {b"II": "little", b"MM": "big"}.get(data[:2])
    if order is None or data[2:4] not in (b"*\0", b"\0*", b"+\0", b"\0+"):
        return
    big = data[2:4] in (b"+\0", b"\0+")
    size, entry = (8, 20) if big else (2, 12)  # bytes of the entry count, of one entry

    def number(at, length):
        return int.from_bytes(data[at:at + length], order)
    directory = number(8, 8) if big else number(4, 4)
    for k in range(min(number(directory, size), 4096)):
        at = directory + size + k * entry
        if number(at, 2) in (273, 324) and number(at + 4, 8 if big else 4) > MAX_READS:
            raise ImageError("%s is made of more than %d pieces (segments, chunks or strips): "
                             "save it again as an ordinary PNG or JPEG." % (name, MAX_READS),
                             path=name)


def _decoder(im):
    """The name of the decoder that ``im.load()`` will run: its first tile's codec, or the
    plugin's own for a format that decodes without tiles (WebP)."""
    return im.tile[0][0] if im.tile else im.format.lower()


def _undecodable(err, name):
    """The ImageError for ``err``, one of :data:`UNDECODABLE` raised while decoding the picture
    ``name``; None for an ImageError, already ours."""
    if isinstance(err, ImageError):
        return None
    if isinstance(err, Image.DecompressionBombError):
        return ImageError("%s declares too many pixels for its size (a decompression bomb)."
                          % name, path=name)
    if isinstance(err, Image.UnidentifiedImageError):
        return ImageError("%s is not an image Pillow can read (%s)."
                          % (name, ", ".join(FORMATS)), path=name)
    return ImageError("%s is truncated or corrupt (%s)." % (name, _reason(err)), path=name)


def _check_cost(im, data, name, size):
    """Refuse a picture whose decoding would cost far more time or memory than its size says.

    Decided by the decoder that will run (:func:`_decoder`), whatever the format is called:
    the memory it allocates (its own buffers, :func:`_decoder_bytes` a pixel of ``size``, the
    picture's own, and :func:`_tile_bytes`, plus the decoded picture, ``im.size`` after a draft)
    must fit :data:`MAX_DECODE`; a JPEG decoder passes
    over every block once per scan, so more scans than :data:`MAX_SCANS`, or than
    :data:`SCAN_WORK` scan-pixels allow at its size, are refused (an ordinary progressive JPEG
    has about 10; every SOS marker in the bytes counts, so none can hide); the decoders Pillow
    runs in Python (plain-text PPM, 16-bit PPM, RLE-compressed BMP), a loop step per few bytes,
    take at most :data:`SLOW_BYTES`.
    """
    decoder, pixels = _decoder(im), size[0] * size[1]
    memory = pixels * _decoder_bytes(im, decoder) + im.size[0] * im.size[1] * _pixel_bytes(im) \
        + _tile_bytes(im)
    if memory > MAX_DECODE:
        raise ImageError("%s would take %s MiB to decode (%dx%d pixels, %s), more than %s MiB: "
                         "save it smaller or as a PNG." % (name, _mib(memory), size[0], size[1],
                                                          im.format, _mib(MAX_DECODE)), path=name)
    if decoder == "jpeg":
        limit = max(1, min(MAX_SCANS, SCAN_WORK // pixels))
        if data.count(b"\xff\xda") > limit:
            raise ImageError("%s is a JPEG of more than %d scans, the most decoded at %dx%d pixels "
                             "(an ordinary one has about 10): save it again as a baseline JPEG "
                             "or a PNG." % (name, limit, size[0], size[1]), path=name)
    if decoder in Image.DECODERS and len(data) > SLOW_BYTES:
        raise ImageError("%s is a %s picture of a kind Pillow decodes slowly (%s), and larger "
                         "than %s MiB: save it as a PNG." % (name, im.format, decoder,
                                                            _mib(SLOW_BYTES)), path=name)


def _decoder_bytes(im, decoder):
    """The bytes a pixel that ``decoder`` allocates beyond the picture: a JPEG's coefficients (2
    bytes each, per component at its sampling), libwebp's RGBA buffer and Pillow's copy of it."""
    if decoder == "jpeg":
        most = max(h * v for _, h, v, _ in im.layer) or 1
        return 2 * sum(h * v for _, h, v, _ in im.layer) / most
    return 12 if decoder == "webp" else 0


def _tile_bytes(im):
    """The buffer libtiff fills for one TIFF tile or strip, which a file may declare far larger
    than its picture (TileWidth x TileLength, or RowsPerStrip rows, times the bits a pixel)."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return 0
    bits = tags.get(258, (8,))  # BitsPerSample: one for each sample, or one for all
    bits = bits if isinstance(bits, tuple) else (bits,)
    width = tags.get(322) or im.size[0]
    rows = tags.get(323) or min(tags.get(278) or im.size[1], im.size[1])
    return width * rows * math.ceil(max(sum(bits), bits[0] * tags.get(277, 1)) / 8)


def _pixel_bytes(im):
    """Bytes a pixel of ``im``'s mode takes once decoded (Pillow keeps 3 bands in 4 bytes)."""
    return 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4


def to_model_input(gray, invert="auto", dataset="mnist", name="the image"):
    """Normalise a gray picture (2-D array, 0-255) the way ``dataset``'s images were made.

    Returns a (28, 28) uint8 array, background 0 and ink bright: inverted if ``invert`` is
    ``"yes"`` (or ``"auto"`` and the border is light; then strokes are first freed of uneven
    light, :func:`flattened`), background level subtracted, contrast
    stretched, cropped to the ink, scaled and placed as the dataset's ``recipe`` says (MNIST's for a
    dataset it does not list). Raises :class:`ImageError` if there is no ink.
    """
    if invert not in ("auto", "yes", "no"):
        raise InvalidInput("invert must be 'auto', 'yes' or 'no', not %r." % (invert,))
    if not isinstance(dataset, str) or dataset not in catalog.DATASETS:
        raise InvalidInput("to_model_input follows the recipe of a known data set (%s), not %r."
                           % (", ".join(catalog.NAMES), dataset))
    side, centring = catalog.DATASETS[dataset]["recipe"]
    gray = _gray_array(gray, name)
    if invert == "yes" or (invert == "auto" and _border(gray).mean() > 127.5):
        gray = 255 - (flattened(gray) if dataset in STROKES else gray)
    border = _border(gray)
    ink = np.clip(gray - np.median(border), 0, None)
    peak = ink.max()
    if peak < MIN_CONTRAST:
        raise ImageError("%s is blank: nothing stands out from its background." % name, path=name)
    ink *= 255 / peak
    rows = np.flatnonzero((ink >= INK_THRESHOLD * 255).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * 255).any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = ink.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    patch = np.clip(np.asarray(Image.fromarray(ink).resize(size, Image.LANCZOS)), 0, 255)
    h, w = patch.shape
    if centring == "mass":
        ys, xs = np.indices(patch.shape)
        mass = patch.sum() or 1.0
        top, left = round(14 - (ys * patch).sum() / mass), round(14 - (xs * patch).sum() / mass)
    else:  # an odd spare pixel goes before the item, as in Fashion-MNIST's images
        top, left = (29 - h) // 2, (29 - w) // 2
    top, left = min(max(top, 0), 28 - h), min(max(left, 0), 28 - w)
    out = np.zeros((28, 28), dtype=np.uint8)
    out[top:top + h, left:left + w] = np.rint(patch)
    return out


def flattened(gray):
    """A dark-on-light picture as if under flat light: the paper 255 everywhere, the ink as dark
    relative to the paper around it as it was, so that gradients, shadows and texture are not ink.

    The paper's local brightness is what a closing (max then min filter) of the picture leaves:
    strokes narrower than the window (:data:`PAPER_WINDOW` of the longer side) are filled in with
    the paper around them, while light that changes over a wider span stays. The edges are extended
    by point reflection, so a linear gradient is kept exactly, also at the border. The filters run
    on a copy averaged down to at most :data:`PAPER_SIDE` pixels a side, then enlarged bilinearly.
    How much darker than the paper each pixel is, less the paper's own noise (:data:`PAPER_NOISE`
    robust standard deviations), is divided by the paper's brightness (light multiplies).
    On evenly lit, clean paper this is the picture times a constant, which the contrast stretch of
    :func:`to_model_input` undoes.
    """
    h, w = gray.shape
    factor = max(1, math.ceil(max(h, w) / PAPER_SIDE))
    small = np.asarray(Image.fromarray(gray, "F").reduce(factor))
    window = 2 * math.ceil(PAPER_WINDOW * min(small.shape) / 2) + 1
    mode = {"mode": "reflect", "reflect_type": "odd"} if min(small.shape) > 1 else {"mode": "edge"}
    padded = np.clip(np.pad(small, window, **mode), 0, float(gray.max()))  # mirrored ink: no paper
    closed = (Image.fromarray(np.ascontiguousarray(padded, np.float32), "F")
              .filter(ImageFilter.MaxFilter(window)).filter(ImageFilter.MinFilter(window)))
    paper = np.asarray(closed.crop((window, window, window + small.shape[1], window + small.shape[0]))
                       .resize((w, h), Image.BILINEAR))
    shade = paper - gray  # about 0 on the paper, up to the ink's contrast on the ink
    typical = np.median(shade)
    noise = PAPER_NOISE * 1.4826 * np.median(np.abs(shade - typical))
    shade = np.clip(shade - typical - noise, 0, None)
    return np.clip(255 - shade * 255 / np.maximum(paper, 1), 0, 255).astype(np.float32)


def _border(gray):
    """The pixels on the picture's four edges, as one 1-D array."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def _gray_array(gray, name):
    """``gray`` as a float32 2-D array of finite values; InvalidType/InvalidInput if it is not."""
    gray = gray.asnumpy() if hasattr(gray, "asnumpy") else np.asarray(gray)  # an NDArray too
    if not (np.issubdtype(gray.dtype, np.number) or gray.dtype == bool):
        raise InvalidType("%s must be an array of numbers, not of %s." % (name, gray.dtype))
    if gray.ndim != 2 or gray.size == 0:
        raise InvalidInput("%s must be a 2-D gray picture, not an array of shape %s."
                           % (name, gray.shape), path=name)
    gray = gray.astype(np.float32)
    if not np.isfinite(gray).all():
        raise InvalidInput("%s holds values that are not finite (NaN or infinite)." % name, path=name)
    return gray


def load_image(source, invert="auto", dataset="mnist", name=None, max_bytes=MAX_BYTES):
    """:func:`read_gray` then :func:`to_model_input`: a file path or bytes to a (28, 28) uint8 input."""
    name = _name(source, name)
    return to_model_input(read_gray(source, name, max_bytes), invert, dataset, name)


def _name(source, name):
    """What messages call the picture: ``name``, else the path, else "the image"."""
    if name:
        return name
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the image"


def _read_file(path, name, max_bytes):
    """The bytes of ``path``, refusing more than ``max_bytes`` without reading them all."""
    with translated(OSError, lambda err: _unreadable(err, name)):
        data = read_regular(path, max_bytes)
    if data is None:
        raise ImageError("%s is larger than %s MiB." % (name, _mib(max_bytes)), path=name)
    return data


def _unreadable(err, name):
    """The ImageError for the OSError ``err`` of reading the file ``name``."""
    if isinstance(err, NotRegular):
        return ImageError("%s is not a regular file: give an image file." % name, path=name)
    return ImageError("%s cannot be read (%s)." % (name, err.strerror or _reason(err)), path=name)


def _shrunk(im, name):
    """``im`` as an 8-bit picture (L, LA, RGB or RGBA) at most WORK_SIDE on a side.

    Converted and shrunk a band of rows at a time, so no step holds a second full-size copy:
    memory stays the decoded picture plus about :data:`BAND_PIXELS`, whatever its mode. High bit
    depths are brought to 8 bits: 16-bit by their top byte, 32-bit integer and float pictures by
    their own range (found in a first pass over the bands).
    """
    width, height = im.size
    factor = max(1, math.ceil(max(im.size) / WORK_SIDE))
    rows = factor * max(1, BAND_PIXELS // (width * factor))
    span = _range(im, name, rows) if im.mode in ("I", "F") else None
    out = None
    for top in range(0, height, rows):
        band = _eight_bit(im.crop((0, top, width, min(height, top + rows))), span)
        band = band.reduce(factor) if factor > 1 else band
        if out is None:
            out = Image.new(band.mode, (math.ceil(width / factor), math.ceil(height / factor)))
        out.paste(band, (0, top // factor))
    return out


def _range(im, name, rows):
    """The lowest and highest value of an I or F picture; ImageError if any is not finite."""
    low, high = math.inf, -math.inf
    for top in range(0, im.size[1], rows):
        values = np.asarray(im.crop((0, top, im.size[0], min(im.size[1], top + rows))))
        if not np.isfinite(values).all():
            raise ImageError("%s holds pixels that are not finite numbers (NaN or infinite)."
                             % name, path=name)
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    return low, high


def _eight_bit(im, span):
    """A band of ``im`` in a mode that ``reduce`` handles: L, LA, RGB or RGBA (``span``: the
    whole picture's value range, for I and F pictures)."""
    if im.mode in ("1", "L", "P", "RGB") and "transparency" in im.info:  # one colour marked clear
        return im.convert("RGBA")
    if im.mode in ("1", "P"):
        return im.convert("RGB" if im.mode == "P" else "L")
    if im.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8))
    if im.mode in ("I", "F"):
        low, high = span
        values = np.asarray(im, dtype=np.float32)
        return Image.fromarray(np.uint8(np.rint((values - low) * (255 / ((high - low) or 1)))))
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        return im.convert("RGBA" if "A" in im.getbands() or "a" in im.getbands() else "RGB")
    return im


def _to_gray(im):
    """Float32 gray array of an 8-bit picture, transparent pixels composited as the module says."""
    if "A" not in im.getbands():
        return np.asarray(im.convert("L"), dtype=np.float32)
    la = np.asarray(im.convert("LA"), dtype=np.float32)
    gray, alpha = la[..., 0], la[..., 1] / 255
    opaque = alpha.sum()
    background = 255.0 if opaque and (gray * alpha).sum() / opaque < 127.5 else 0.0
    return gray * alpha + background * (1 - alpha)


def _mib(n):
    return ("%.1f" % (n / 2 ** 20)).rstrip("0").rstrip(".")


def _reason(err):
    return str(err).strip() or type(err).__name__
