"""Pictures that are small on disk and costly or hostile to decode, for tests/test_images.py.

Run as a script, it times each against :func:`mxsoftmax.images.read_gray`:

    python tests/images_bombs.py
"""
import io
import struct
import sys
import time
import zlib

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


def zstd_zeros(n):
    """A zstd frame of ``n`` zero bytes made of RLE blocks: 4 bytes per 128 KiB."""
    out, block = bytearray(struct.pack("<I", 0xFD2FB528) + bytes([0x00, 7 << 3])), 128 * 1024
    while n > 0:
        size = min(block, n)
        n -= size
        out += struct.pack("<I", (size << 3) | (1 << 1) | (n == 0))[:3] + b"\0"
    return bytes(out)


TIFF_TYPES = {2: "B", 3: "H", 4: "I", 5: "I", 7: "B", 9: "i", 11: "f", 12: "d"}  # struct's codes


def tiff(tags, blob):
    """A little-endian one-directory TIFF: ``tags`` {tag: (TIFF type, values)}, the values a list
    (a RATIONAL's numerators and denominators in turn; "@" stands for the offset of ``blob``,
    placed after the header) or the bytes of an ASCII or UNDEFINED tag."""
    at = 8 + len(blob) + len(blob) % 2
    entries, extra = [], b""
    extra_at = at + 2 + 12 * len(tags) + 4
    for tag, (kind, values) in sorted(tags.items()):
        raw = values if isinstance(values, bytes) else struct.pack(
            "<%d%s" % (len(values), TIFF_TYPES[kind]), *[8 if v == "@" else v for v in values])
        count = len(raw) // struct.calcsize(TIFF_TYPES[kind]) // (2 if kind == 5 else 1)
        field = raw.ljust(4, b"\0") if len(raw) <= 4 else struct.pack("<I", extra_at + len(extra))
        extra += b"" if len(raw) <= 4 else raw
        entries.append(struct.pack("<HHI", tag, kind, count) + field)
    return (b"II*\0" + struct.pack("<I", at) + blob + b"\0" * (len(blob) % 2)
            + struct.pack("<H", len(tags)) + b"".join(entries) + b"\0\0\0\0" + extra)


def gray_tiff(width, height, tags=(), blob=None):
    """A stripped 8-bit gray TIFF of ``width`` x ``height`` pixels (``blob``, else black) in one strip,
    with ``tags`` {tag: (TIFF type, values)} added or replacing its own."""
    blob = bytes(width * height) if blob is None else blob
    return tiff({256: (4, [width]), 257: (4, [height]), 258: (3, [8]), 259: (3, [1]), 262: (3, [1]),
                 273: (4, ["@"]), 278: (4, [height]), 279: (4, [len(blob)]), **dict(tags)}, blob)


def corrupt_exif_jpeg(picture):
    """``picture`` as a JPEG whose EXIF's second tag declares 2 ** 31 bytes: Pillow warns of the
    tag as it reads it (and skips it)."""
    exif, buf = Image.Exif(), io.BytesIO()
    exif[0x0112], exif[0x010E] = 1, "x" * 100
    picture.save(buf, "JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    at = data.index(b"Exif\x00\x00") + 6 + 8 + 2 + 12 + 4  # the second entry's count
    return data[:at] + (0x7FFFFFFF).to_bytes(4, "little") + data[at + 4:]


def tile_bomb_tiff(side=64, tile=32768):
    """A gray ``side`` x ``side`` TIFF whose one zstd tile is declared ``tile`` x ``tile``: a few
    tens of KB on disk; libtiff fills the whole tile's buffer (1 GiB) to decode it."""
    blob = zstd_zeros(tile * tile)
    return tiff({256: (4, [side]), 257: (4, [side]), 258: (3, [8]), 259: (3, [50000]),
                 262: (3, [1]), 277: (3, [1]), 322: (4, [tile]), 323: (4, [tile]),
                 324: (4, ["@"]), 325: (4, [len(blob)])}, blob)


def many_pieces(kind, n=150000):
    """A small picture whose structure Pillow walks in Python has ``n`` pieces: empty JPEG APP5
    segments, unknown PNG chunks, one-row TIFF strips, or a PGM comment of ``n`` bytes."""
    buf = io.BytesIO()
    picture = Image.new("L", (32, 32), 0)
    if kind == "tiff":
        return tiff({256: (4, [1]), 257: (4, [n]), 258: (3, [8]), 259: (3, [1]), 262: (3, [1]),
                     277: (3, [1]), 273: (4, [8] * n), 278: (3, [1]), 279: (4, [1] * n)}, b"\0\0")
    picture.save(buf, {"jpeg": "JPEG", "png": "PNG", "pgm": "PPM"}[kind])
    data = buf.getvalue()
    if kind == "jpeg":
        return data[:2] + b"\xff\xe5\x00\x02" * n + data[2:]
    if kind == "png":
        chunk = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
        return data[:33] + chunk * n + data[33:]
    return data[:2] + b"\n#" + b"x" * n + b"\n" + data[3:]


def png_profiles(count):
    """A small PNG with ``count`` iCCP chunks (the standard allows one), each inflating to 1 MB."""
    buf = io.BytesIO()
    Image.new("L", (32, 32), 0).save(buf, "PNG")
    body = b"icc\0\0" + zlib.compress(bytes(10 ** 6), 9)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(
        ">I", zlib.crc32(b"iCCP" + body))
    data = buf.getvalue()
    return data[:33] + chunk * count + data[33:]


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
