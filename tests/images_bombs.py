"""Pictures that are small on disk and costly to decode, for tests/test_images.py.

Run as a script, it times each against :func:`mxsoftmax.images.read_gray`:

    python tests/images_bombs.py
"""
import io
import struct
import sys
import time

import numpy as np
from PIL import Image


def jpeg_segments(data):
    """Split a JPEG into (marker, bytes) pieces: each marker segment, and each scan (SOS header
    with its entropy-coded data) as one piece; EOI last."""
    pieces, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            pieces.append((marker, data[i:i + 2]))
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        end = i + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not RSTn or 0xFF00
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        pieces.append((marker, data[i:end]))
        i = end
    return pieces


def many_scan_jpeg(side=6000, scans=15300):
    """A progressive gray JPEG of ``side`` x ``side`` pixels whose last scan is repeated until it
    has ``scans`` scans: each costs a pass over every 8x8 block, a few bytes each on disk."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 200).save(buf, "JPEG", progressive=True, quality=50)
    data = buf.getvalue()
    pieces = jpeg_segments(data)
    sos = [p for m, p in pieces if m == 0xDA]
    head = data[:2] + b"".join(p for m, p in pieces if m not in (0xDA, 0xD9))
    extra = max(0, scans - len(sos))
    return head + b"".join(sos) + sos[-1] * extra + b"\xff\xd9"


def as_mpo(jpeg):
    """The same JPEG with the APP2 "MPF" segment of a two-frame MPO after its SOI: Pillow then
    opens it as an MPO (a JPEG variant) and decodes its first frame with the same decoder."""
    buf = io.BytesIO()
    frame = Image.new("L", (64, 64), 100)
    frame.save(buf, "MPO", save_all=True, append_images=[frame])
    app2 = next(p for m, p in jpeg_segments(buf.getvalue()) if m == 0xE2)
    return jpeg[:2] + app2 + jpeg[2:]


def lossless_webp(side=6000):
    """A black lossless WebP of ``side`` x ``side`` pixels: about 1.4 KB on disk, 16 bytes a
    pixel in memory once decoded (libwebp's RGBA buffer, Pillow's copy)."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 0).save(buf, "WEBP", lossless=True)
    return buf.getvalue()


def float_tiff(side=8000):
    """A float32 TIFF of ``side`` x ``side`` pixels, deflate-compressed: a few hundred KB."""
    values = np.zeros((side, side), np.float32)
    values[side // 4:side // 2, side // 3:side // 2] = 1.0
    buf = io.BytesIO()
    Image.fromarray(values, "F").save(buf, "TIFF", compression="tiff_adobe_deflate")
    return buf.getvalue()


def main():
    from mxsoftmax import images
    for name, data in [("many-scan JPEG", many_scan_jpeg()), ("as an MPO", as_mpo(many_scan_jpeg())),
                       ("lossless WebP", lossless_webp()), ("float32 TIFF", float_tiff())]:
        start = time.process_time()
        try:
            images.read_gray(data)
            outcome = "decoded"
        except images.ImageError as err:
            outcome = str(err)
        print("%s (%d bytes): %.2f s CPU: %s" % (name, len(data), time.process_time() - start,
                                                 outcome))


if __name__ == "__main__":
    sys.exit(main())
