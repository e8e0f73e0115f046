"""Any picture to what the model was trained on, a (28, 28) uint8 array of bright ink on black:
:func:`read_gray` decodes with bounded memory and time, :func:`to_model_input` follows the data
set's recipe (MNIST's ink scaled to 20 pixels and centred by mass, Fashion-MNIST's to 28 by box)."""
import io
import logging
import math
import os
import reprlib
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps, TiffTags
from PIL.ExifTags import Base

from . import catalog
from .errors import ImageError, MxSoftmaxError, reason, translated
from .files import NotRegular, read_regular
from .validation import CONSTRAINTS as C, validate_params

MAX_BYTES = 20 * 2 ** 20     # largest file read; the draw server allows 1 MiB bodies
MAX_PIXELS = 40 * 10 ** 6    # largest width x height decoded (a 40-megapixel photo)
MAX_DECODE = 200 * 2 ** 20   # most memory one decode may take (a 40-megapixel RGBA PNG: 160 MiB)
MAX_SCANS = 100              # most scans decoded in a JPEG (an ordinary progressive one has ~10)
SCAN_WORK = 1200 * 10 ** 6   # most scans x pixels decoded in a JPEG: 30 scans at 40 megapixels
MAX_READS = 100000           # most reads of a picture's bytes (a 20 MiB JPEG takes a few hundred)
SLOW_BYTES = 2 * 2 ** 20     # largest picture of a kind Pillow decodes in Python (plain PPM, ...)
WORK_SIDE = 1024             # larger pictures are shrunk to this longest side as they are decoded
BAND_PIXELS = 2 ** 18        # pixels converted at a time while shrinking
FORMATS = ("PNG", "JPEG", "PPM", "BMP", "GIF", "TIFF", "WEBP")  # no EPS/PDF (Ghostscript) etc.
UNDECODABLE = Exception      # what decoding a damaged or hostile picture raises: of many kinds in Pillow
INK_THRESHOLD = 0.2          # share of the brightest ink that counts for the bounding box
MIN_CONTRAST = 32            # gray levels between background and ink below which a picture is blank
STROKES = ("mnist",)         # data sets of pen strokes: the light on their paper is flattened
PAPER_WINDOW = 1 / 6         # the paper's brightness is taken over this share of the shorter side
PAPER_SIDE = 80              # ... on a copy averaged down to at most this many pixels a side
PAPER_NOISE = 4.5            # robust standard deviations of the paper's noise that are not ink
PIECES = ("is made of more than %d pieces (segments, chunks or strips): save it again as an "
          "ordinary PNG or JPEG." % MAX_READS)
REFUSALS = {  # the classes of what reading or decoding raises that say what is wrong
    NotRegular: "is not a regular file: give an image file.",
    Image.DecompressionBombError: "declares too many pixels for its size (a decompression bomb).",
    Image.UnidentifiedImageError: "is not an image Pillow can read (%s)." % ", ".join(FORMATS)}


@validate_params({"source": C["image"]})
def read_gray(source, name=None):
    """A path or bytes as float32 gray 0-255 at most WORK_SIDE a side, EXIF orientation applied,
    refused before decoding if it would cost far more than its size; ``name`` is the picture's."""
    name = _name(source, name)
    _hush_pillow()
    with translated(UNDECODABLE, lambda err: _undecodable(err, name)):
        data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else \
            read_regular(source, MAX_BYTES)
        if data is None or len(data) > MAX_BYTES:
            raise _refused(name, "is larger than %d MiB." % (MAX_BYTES // 2 ** 20))
        if not data:
            raise _refused(name, "is empty.")
        _check_structure(data, name)
        with Image.open(_Budgeted(data, name), formats=FORMATS) as im:
            size = im.size
            decoder = im.tile[0][0] if im.tile else im.format.lower()  # what load() runs (MPO: jpeg)
            if decoder == "jpeg":  # decode at 1/2, 1/4 or 1/8 scale, colour straight to gray
                im.draft("L", (WORK_SIDE, WORK_SIDE))
            _check_cost(im, size, decoder, data, name)
            return _gray(im, name)


def _hush_pillow():
    """Pillow warns and logs of what it decodes (corrupt EXIF or TIFF metadata, palette transparency);
    the picture is decoded as far as it goes or refused in one sentence, so neither reaches stderr, even
    under PYTHONWARNINGS=error. A process-wide filter, put first at each read (idempotent): one set at
    import is undone by the catch_warnings() that commands import in (compat.loading), and
    catch_warnings() around each read is not thread-safe (the draw server decodes in threads)."""
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    logging.getLogger("PIL").setLevel(logging.CRITICAL + 1)


class _Budgeted(io.BytesIO):
    """The picture's bytes, read at most MAX_READS times: Pillow walks a file's pieces (JPEG segments,
    PNG chunks, TIFF strips, PPM header bytes) in Python, a read each; decoders read 64 KiB."""

    def __init__(self, data, name):
        super().__init__(data)
        self.left, self.name = MAX_READS, name

    def read(self, *size):
        self.left -= 1
        if self.left < 0:
            raise _refused(self.name, PIECES)
        return super().read(*size)


def _check_structure(data, name):
    """Refuse a PNG of more than one colour profile (Pillow inflates each, up to 1 MB) and a TIFF
    declaring more than MAX_READS strips or tiles (Pillow makes an object of each as it opens)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        at, profiles = 8, 0
        for _ in range(MAX_READS):
            if at + 8 > len(data):
                break
            profiles += data[at + 4:at + 8] == b"iCCP"
            at += 12 + int.from_bytes(data[at:at + 4], "big")
        if profiles > 1:
            raise _refused(name, "is a PNG of %d colour profiles (iCCP chunks; the standard "
                                 "allows one): save it again." % profiles)
    order = {b"II": "little", b"MM": "big"}.get(data[:2])
    if order and data[2:4] in (b"*\0", b"\0*", b"+\0", b"\0+"):
        big = data[2:4] in (b"+\0", b"\0+")  # BigTIFF: 8-byte offsets and counts
        count, entry = (8, 20) if big else (2, 12)  # bytes of the entry count, of one entry

        def number(at, length):
            return int.from_bytes(data[at:at + length], order)
        directory = number(8, 8) if big else number(4, 4)
        for k in range(min(number(directory, count), 4096)):
            at = directory + count + k * entry
            if number(at, 2) in (273, 324) and number(at + 4, 8 if big else 4) > MAX_READS:
                raise _refused(name, PIECES)  # StripOffsets, TileOffsets


def _check_cost(im, size, decoder, data, name):
    """Refuse a picture of ``size`` whose decoding would cost far more than its bytes say: in
    pixels, in memory (with the decoder's buffers), in JPEG scans, in bytes decoded in Python."""
    pixels = size[0] * size[1]
    if pixels > MAX_PIXELS:
        raise _refused(name, "has %dx%d pixels; at most %d megapixels are accepted."
                             % (size + (MAX_PIXELS // 10 ** 6,)))
    sampling = [h * v for _, h, v, _ in getattr(im, "layer", ())]  # a JPEG's components
    per_pixel = 2 * sum(sampling) / (max(sampling) or 1) if decoder == "jpeg" else \
        12 if decoder == "webp" else 0  # 2 bytes a coefficient; libwebp's RGBA and Pillow's copy
    mode_bytes = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
    memory = pixels * per_pixel + im.size[0] * im.size[1] * mode_bytes + _tile_bytes(im, name)
    if memory > MAX_DECODE:
        raise _refused(name, "would take %.4g MiB to decode (%dx%d pixels, %s), more than %d MiB: "
                             "save it smaller or as a PNG." % (memory / 2 ** 20, size[0], size[1],
                                                               im.format, MAX_DECODE // 2 ** 20))
    scans = max(1, min(MAX_SCANS, SCAN_WORK // max(pixels, 1)))
    if decoder == "jpeg" and data.count(b"\xff\xda") > scans:  # every SOS marker counts
        raise _refused(name, "is a JPEG of more than %d scans, the most decoded at %dx%d pixels "
                             "(an ordinary one has about 10): save it again as a baseline JPEG "
                             "or a PNG." % (scans, size[0], size[1]))
    if decoder in Image.DECODERS and len(data) > SLOW_BYTES:
        raise _refused(name, "is a %s picture of a kind Pillow decodes slowly (%s), and larger "
                             "than %d MiB: save it as a PNG." % (im.format, decoder,
                                                                 SLOW_BYTES // 2 ** 20))


def _tile_bytes(im, name):
    """The buffer libtiff fills for one TIFF tile or strip, which a file may declare far larger
    than its picture (TileWidth x TileLength, or RowsPerStrip rows, times the bits a pixel). Each
    tag is refused unless a whole number >= 0: Pillow passes on text, bytes, NaN, fractions."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return 0

    def whole(tag, default=0):
        value = tags.get(tag, default)
        values = value if isinstance(value, tuple) and tag == 258 else (value,)  # 258: one a sample
        if not values or not all(isinstance(v, int) and v >= 0 for v in values):
            raise _refused(name, "has a TIFF tag %d (%s) of %s, not a whole number >= 0: save it "
                                 "again as a PNG." % (tag, TiffTags.lookup(tag).name, reprlib.repr(value)))
        return values if tag == 258 else value
    bits, samples, width, rows, strip = whole(258, (8,)), whole(277, 1), whole(322), whole(323), whole(278)
    rows = rows or min(strip or im.size[1], im.size[1])
    return (width or im.size[0]) * rows * math.ceil(max(sum(bits), bits[0] * samples) / 8)


def _gray(im, name):
    """Float32 gray 0-255 shrunk a band of rows at a time (memory: the picture and BAND_PIXELS more):
    16-bit pictures by their full range, 32-bit and float ones by their own; transparent pixels
    over white where the opaque ones are mostly dark, else over black."""
    width, height = im.size
    factor = math.ceil(max(im.size) / WORK_SIDE)
    rows = factor * max(1, BAND_PIXELS // (width * factor))
    mode = "F" if im.mode in ("I", "F") or im.mode.startswith("I;16") else \
        "LA" if "transparency" in im.info or im.mode.endswith(("A", "a")) else "L"
    small = Image.new(mode, (math.ceil(width / factor), math.ceil(height / factor)))
    for top in range(0, height, rows):
        band = im.crop((0, top, width, min(height, top + rows)))
        if im.mode == "LAB":  # its lightness is the gray (Pillow converts LAB to nothing else)
            band = band.getchannel("L")
        band = band.convert("RGBA").convert("LA") if mode == "LA" else band.convert(mode)
        small.paste(band.reduce(factor), (0, top // factor))
    small.getexif()[Base.Orientation] = im.getexif().get(Base.Orientation, 1)
    values = np.asarray(ImageOps.exif_transpose(small), dtype=np.float32)
    if mode == "F":
        if not np.isfinite(values).all():
            raise _refused(name, "holds pixels that are not finite numbers (NaN or infinite).")
        values = values.astype(np.float64)  # float32 overflows between +-3e38 or by a tiny range
        low, high = (0, 65535) if im.mode.startswith("I;16") else (values.min(), values.max())
        return ((values - low) * (255 / ((high - low) or 1))).astype(np.float32)
    if mode == "L":
        return values
    gray, alpha = values[..., 0], values[..., 1] / 255
    opaque = alpha.sum()
    background = 255.0 if opaque and (gray * alpha).sum() / opaque < 127.5 else 0.0
    return gray * alpha + background * (1 - alpha)


@validate_params({"gray": C["gray"], "invert": C["invert"], "dataset": C["dataset"]})
def to_model_input(gray, invert="auto", dataset="mnist", name="the image"):
    """A gray picture (2-D, 0-255) made as ``dataset``'s images were, inverted if ``invert`` is "yes"
    or "auto" and its border is light (pen strokes flattened); blank if no ink stands out."""
    side, centring = catalog.DATASETS[dataset]["recipe"]
    gray = (gray.asnumpy() if hasattr(gray, "asnumpy") else np.asarray(gray)).astype(np.float32)
    if invert == "yes" or (invert == "auto" and _border(gray).mean() > 127.5):
        gray = 255 - (flattened(gray) if dataset in STROKES else gray)
    ink = np.clip(gray - np.median(_border(gray)), 0, None)
    if ink.max() < MIN_CONTRAST:
        raise _refused(name, "is blank: nothing stands out from its background.")
    ink *= 255 / ink.max()
    rows, cols = (np.flatnonzero((ink >= INK_THRESHOLD * 255).any(axis)) for axis in (1, 0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = side / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    patch = np.clip(np.asarray(Image.fromarray(ink).resize(size, Image.LANCZOS)), 0, 255)
    h, w = patch.shape
    if centring == "mass":
        ys, xs = np.indices(patch.shape)
        mass = patch.sum() or 1.0
        top, left = round(14 - (ys * patch).sum() / mass), round(14 - (xs * patch).sum() / mass)
    else:  # an odd spare pixel goes before the item, as in Fashion-MNIST's images
        top, left = (29 - h) // 2, (29 - w) // 2
    top, left = min(max(top, 0), 28 - h), min(max(left, 0), 28 - w)
    return np.pad(np.rint(patch).astype(np.uint8), ((top, 28 - h - top), (left, 28 - w - left)))


def flattened(gray):
    """A dark-on-light picture as under flat light: the paper's light, a closing (max then min filter)
    that fills strokes, divided out; edges mirrored through their values keep a gradient exact."""
    h, w = gray.shape
    small = np.asarray(Image.fromarray(gray, "F").reduce(math.ceil(max(h, w) / PAPER_SIDE)))
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
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


@validate_params({"source": C["image"], "invert": C["invert"], "dataset": C["dataset"]})
def load_image(source, invert="auto", dataset="mnist", name=None):
    """:func:`read_gray` then :func:`to_model_input`: a path or bytes to a (28, 28) uint8 input."""
    return to_model_input(read_gray(source, name), invert, dataset, _name(source, name))


def _name(source, name):
    """What messages call the picture: ``name``, else the path, else "the image"."""
    return name or (os.fspath(source) if isinstance(source, (str, os.PathLike)) else "the image")


def _refused(name, why):
    return ImageError(path=name, problem=why)


def _undecodable(err, name):
    """The ImageError for ``err``, raised reading (errno set) or decoding the picture ``name``."""
    why = next((why for kind, why in REFUSALS.items() if isinstance(err, kind)), None)
    if why is None and isinstance(err, MxSoftmaxError):
        return None  # an ImageError already, or a signal's Interrupted
    return _refused(name, why or ("cannot be read (%s)." if getattr(err, "errno", None) else
                                  "is truncated or corrupt (%s).") % reason(err))
