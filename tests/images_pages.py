"""Synthetic photos of digits on paper, the same page under flat and under uneven light.

Used by tests/test_images.py (the preprocessing of an unevenly lit page against the same page
under flat light) and, run as a script, to measure a trained run's accuracy on both:

    python tests/images_pages.py RUN_FOLDER [N_PER_DIGIT]

prints the rate on flat light and on uneven light (gradient, soft shadow, both), each page
with noise and saved as JPEG, as ``python -m mxsoftmax.predict`` would read it.
"""
import glob
import io
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = sorted(f for f in glob.glob("/usr/share/fonts/truetype/dejavu/DejaVu*.ttf")
               if "MathTeX" not in f and "ExtraLight" not in f)
LIGHTS = ("gradient", "shadow", "gradient and shadow")


def reflectance(digit, font, rng):
    """A digit printed dark on light paper: (height, width) float64 reflectance 0-255, a page of
    120-400 pixels a side with the digit 25-60% of its short side high, anywhere, tilted a little."""
    width, height = rng.randint(120, 400, size=2)
    size = int(min(width, height) * rng.uniform(.25, .6))
    alpha = ink_on_sheet(digit, ImageFont.truetype(font, size), size, width, height, rng)
    paper, ink = rng.uniform(190, 250), rng.uniform(0, 70)
    return paper + (ink - paper) * alpha


def ink_on_sheet(digit, face, size, width, height, rng):
    """Where the ink is (float64 0-1, height x width): the digit in ``face``, tilted up to 12
    degrees, anywhere on the sheet."""
    glyph = Image.new("L", (2 * size, 2 * size))
    ImageDraw.Draw(glyph).text((size, size), str(digit), fill=255, font=face, anchor="mm")
    glyph = glyph.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
    glyph = glyph.crop(glyph.getbbox())
    sheet = Image.new("L", (int(width), int(height)))
    sheet.paste(glyph, (rng.randint(0, max(1, width - glyph.width)),
                        rng.randint(0, max(1, height - glyph.height))))
    return np.asarray(sheet, np.float64) / 255


def gradient(shape, rng, low=None):
    """Light falling linearly from 1 to ``low`` (0.45-0.7) across the page, in any direction."""
    low = rng.uniform(.45, .7) if low is None else low
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.indices(shape, dtype=np.float64)
    t = xs * np.cos(angle) + ys * np.sin(angle)
    t = (t - t.min()) / (np.ptp(t) or 1)
    return 1 - (1 - low) * t


def shadow(shape, rng, depth=None):
    """A soft shadow: a blurred dark ellipse over part of the page, darkening it to 45-70%."""
    depth = rng.uniform(.3, .55) if depth is None else depth
    h, w = shape
    mask = Image.new("L", (w, h))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    rx, ry = rng.uniform(.3, .7) * w, rng.uniform(.3, .7) * h
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(min(h, w) * rng.uniform(.05, .15)))
    return 1 - depth * np.asarray(mask, np.float64) / 255


def light(kind, shape, rng):
    """The illumination field of ``kind`` ("flat" or one of LIGHTS) for a page of ``shape``."""
    if kind == "flat":
        return np.ones(shape)
    field = np.ones(shape)
    if "gradient" in kind:
        field *= gradient(shape, rng)
    if "shadow" in kind:
        field *= shadow(shape, rng)
    return field


def photo(page, field, rng, quality=None, noise=3.0):
    """``page`` reflectance lit by ``field``, with sensor noise, as JPEG bytes (``quality`` 60-92)."""
    noisy = page * field + rng.normal(0, noise, page.shape)
    im = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.randint(60, 93) if quality is None else quality))
    return buf.getvalue()


def pages(n_per_digit, seed=0, fonts=FONTS):
    """Yield (digit, {"flat": jpeg, light kind: jpeg, ...}): each page under every light."""
    rng = np.random.RandomState(seed)
    for i in range(n_per_digit):
        for digit in range(10):
            page = reflectance(digit, fonts[(i * 10 + digit) % len(fonts)], rng)
            shots = {}
            for kind in ("flat",) + LIGHTS:
                seed_shot = rng.randint(2 ** 31)
                shots[kind] = photo(page, light(kind, page.shape, rng),
                                    np.random.RandomState(seed_shot))
            yield digit, shots


def measure(run_folder, n_per_digit=20):
    """Print the run's rate on flat light and on each uneven light; returns {kind: rate}."""
    import mxnet as mx
    from mxsoftmax import images
    from mxsoftmax.classify import predict_proba
    from mxsoftmax.runs import load_run
    ctx = mx.cpu()
    run = load_run(run_folder, ctx)
    hits, counts = {}, {}
    for digit, shots in pages(n_per_digit):
        for kind, jpeg in shots.items():
            counts[kind] = counts.get(kind, 0) + 1
            try:
                seen = images.load_image(jpeg, dataset=run.dataset)
            except images.ImageError:
                continue
            guess = predict_proba(seen[None], run.params, ctx).argmax(1)[0]
            hits[kind] = hits.get(kind, 0) + int(guess == digit)
    rates = {kind: hits.get(kind, 0) / counts[kind] for kind in counts}
    for kind, rate in rates.items():
        print("%-20s %.3f  (%d pages)" % (kind, rate, counts[kind]))
    return rates


if __name__ == "__main__":
    measure(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
