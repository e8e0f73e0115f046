// The exported page (python -m mxsoftmax.export --to FILE.html): the model and its preprocessing
// in the page itself, so it works from file:// with no server, no network and no Python.
//
// The recipe is mxsoftmax/images.py's to_model_input, step for step, with the same arithmetic:
// Pillow's gray conversion, float32 where numpy computes in float32 (with numpy's pairwise sums),
// Pillow's Lanczos resampling of a float image, and Python's round-half-to-even. So a picture gives
// the same 28x28 input here as in `python -m mxsoftmax.predict`, and the same answer.
//
// window.mxsoftmaxClassify(imageData[, invert]) classifies any ImageData (the tests use it). The
// drawing and the answer shown are canvas.js's, as on the draw page: the exported page holds it
// inline before this script (mxsoftmax/formats.py puts the two together).
"use strict";
(function () {
  const model = JSON.parse(document.getElementById("model").textContent);
  const classes = model.class_names;
  const recipe = model.recipe;
  const W = Float64Array.from(Array.prototype.concat.apply([], model.W).map(Math.fround));
  const b = Float64Array.from(model.b.map(Math.fround));
  const K = b.length, D = 784;
  const WORK_SIDE = 1024;           // larger pictures are shrunk to this side first, as in Python
  const MAX_PIXELS = 40e6;
  const f32 = Math.fround;

  // ------------------------------------------------------------------ the recipe

  function roundHalfEven(x) {
    const r = Math.round(x);
    return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }

  // numpy's pairwise summation (float32 when round is Math.fround), as ndarray.sum() does it.
  function pairwiseSum(a, start, n, round) {
    if (n < 8) {
      let s = round(0);
      for (let i = 0; i < n; i++) s = round(s + a[start + i]);
      return s;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(a[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (let j = 0; j < 8; j++) r[j] = round(r[j] + a[start + i + j]);
      }
      let s = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) +
                    round(round(r[4] + r[5]) + round(r[6] + r[7])));
      for (; i < n; i++) s = round(s + a[start + i]);
      return s;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return round(pairwiseSum(a, start, n2, round) + pairwiseSum(a, start + n2, n - n2, round));
  }
  const identity = function (x) { return x; };

  // Gray float values (0-255) of RGBA pixels: Pillow's L = (19595 R + 38470 G + 7471 B) >> 16, and
  // transparent pixels over white when the opaque ones are mostly dark, else over black.
  function toGray(rgba, n) {
    const gray = new Float32Array(n);
    const alpha = new Float32Array(n);
    let transparent = false;
    for (let i = 0; i < n; i++) {
      const p = 4 * i;
      gray[i] = (rgba[p] * 19595 + rgba[p + 1] * 38470 + rgba[p + 2] * 7471 + 0x8000) >> 16;
      alpha[i] = f32(rgba[p + 3] / 255);
      if (rgba[p + 3] !== 255) transparent = true;
    }
    if (!transparent) return gray;
    const opaque = pairwiseSum(alpha, 0, n, f32);
    const weighted = new Float32Array(n);
    for (let i = 0; i < n; i++) weighted[i] = f32(gray[i] * alpha[i]);
    const background = opaque && f32(pairwiseSum(weighted, 0, n, f32) / opaque) < 127.5 ? 255 : 0;
    for (let i = 0; i < n; i++) gray[i] = f32(weighted[i] + f32(background * f32(1 - alpha[i])));
    return gray;
  }

  // Pillow's Image.reduce(factor) of 8-bit RGBA: the mean of each block, partial blocks included.
  function reduce(rgba, width, height, factor) {
    const w = Math.ceil(width / factor), h = Math.ceil(height / factor);
    const out = new Uint8ClampedArray(4 * w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const y1 = Math.min(height, (y + 1) * factor), x1 = Math.min(width, (x + 1) * factor);
        const count = (y1 - y * factor) * (x1 - x * factor);
        for (let c = 0; c < 4; c++) {
          let sum = 0;
          for (let yy = y * factor; yy < y1; yy++) {
            for (let xx = x * factor; xx < x1; xx++) sum += rgba[4 * (yy * width + xx) + c];
          }
          out[4 * (y * w + x) + c] = Math.floor((sum + count / 2) / count);
        }
      }
    }
    return {data: out, width: w, height: h};
  }

  // Pillow's lanczos_filter: a sinc windowed by a sinc three times wider, zero from 3 on.
  function sinc(t) {
    return t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t);
  }
  function lanczos(x) {
    return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
  }

  // Pillow's bilinear_filter: a triangle, zero from 1 on.
  function bilinear(x) {
    x = Math.abs(x);
    return x < 1 ? 1 - x : 0;
  }
  const LANCZOS = {kernel: lanczos, support: 3}, BILINEAR = {kernel: bilinear, support: 1};

  // Pillow's precompute_coeffs: for each output pixel, its first input pixel and the weights.
  function coefficients(inSize, outSize, filter) {
    const scale = inSize / outSize;
    const filterscale = Math.max(scale, 1);
    const support = filter.support * filterscale;
    const out = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const ss = 1 / filterscale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const k = [];
      let ww = 0;
      for (let x = 0; x < xmax; x++) {
        const w = filter.kernel((x + xmin - center + 0.5) * ss);
        k.push(w);
        ww += w;
      }
      out.push({min: xmin, k: ww !== 0 ? k.map(function (w) { return w / ww; }) : k});
    }
    return out;
  }

  // Pillow's resize(size, filter) of a float ("F") image: horizontal, then vertical, float32
  // between; the filter is LANCZOS unless given.
  function resize(src, w, h, nw, nh, filter) {
    filter = filter || LANCZOS;
    if (nw === w && nh === h) return Float32Array.from(src);
    let cur = src, cw = w;
    if (nw !== w) {
      const cx = coefficients(w, nw, filter);
      const tmp = new Float32Array(nw * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < nw; x++) {
          const c = cx[x];
          let s = 0;
          for (let i = 0; i < c.k.length; i++) s += cur[y * cw + c.min + i] * c.k[i];
          tmp[y * nw + x] = s;
        }
      }
      cur = tmp;
      cw = nw;
    }
    if (nh !== h) {
      const cy = coefficients(h, nh, filter);
      const tmp = new Float32Array(cw * nh);
      for (let y = 0; y < nh; y++) {
        const c = cy[y];
        for (let x = 0; x < cw; x++) {
          let s = 0;
          for (let i = 0; i < c.k.length; i++) s += cur[(c.min + i) * cw + x] * c.k[i];
          tmp[y * cw + x] = s;
        }
      }
      cur = tmp;
    }
    return cur;
  }

  // Pillow's Image.reduce(factor) of a float ("F") image (ImagingReduceNxN_32bpc and
  // ImagingReduceCorners_32bpc): each block summed in double, whole blocks two rows and two
  // columns at a time with the four (or two) float32 values added in float32 first, then the sum
  // times 1 / (pixels in the block) rounded to float32.
  function reduceFloat(src, width, height, factor) {
    const w = Math.ceil(width / factor), h = Math.ceil(height / factor);
    const out = new Float32Array(w * h);
    const at = function (x, y) { return src[y * width + x]; };
    const wholeX = Math.floor(width / factor), wholeY = Math.floor(height / factor);
    const multiplier = 1 / (factor * factor);
    for (let y = 0; y < wholeY; y++) {
      const y0 = y * factor;
      for (let x = 0; x < wholeX; x++) {
        const x0 = x * factor;
        let ss = 0, yy = y0, xx;
        for (; yy < y0 + factor - 1; yy += 2) {
          for (xx = x0; xx < x0 + factor - 1; xx += 2) {
            ss += f32(f32(f32(at(xx, yy) + at(xx + 1, yy)) + at(xx, yy + 1)) + at(xx + 1, yy + 1));
          }
          if (factor & 1) ss += f32(at(xx, yy) + at(xx, yy + 1));
        }
        if (factor & 1) {
          for (xx = x0; xx < x0 + factor - 1; xx += 2) ss += f32(at(xx, yy) + at(xx + 1, yy));
          if (factor & 1) ss += at(xx, yy);
        }
        out[y * w + x] = ss * multiplier;
      }
    }
    // the last column and row of partial blocks: plain sums, row by row
    const corner = function (x, y) {
      const x1 = Math.min(width, (x + 1) * factor), y1 = Math.min(height, (y + 1) * factor);
      let ss = 0;
      for (let yy = y * factor; yy < y1; yy++) {
        for (let xx = x * factor; xx < x1; xx++) ss += at(xx, yy);
      }
      out[y * w + x] = ss * (1 / ((x1 - x * factor) * (y1 - y * factor)));
    };
    if (width % factor) for (let y = 0; y < wholeY; y++) corner(wholeX, y);
    if (height % factor) for (let x = 0; x < wholeX; x++) corner(x, wholeY);
    if (width % factor && height % factor) corner(wholeX, wholeY);
    return {data: out, width: w, height: h};
  }

  // numpy.pad(line, (left, right), "reflect", reflect_type="odd") of one line in place (its
  // middle already holding the values), chunk by chunk as numpy's _set_reflect_both does when
  // the pad is wider than the line: each value mirrored through the edge, 2 * edge - value.
  function reflectOdd(get, set, n, left, right) {
    while (left > 0 || right > 0) {
      const old = n - right - left - 1;
      if (left > 0) {
        const chunk = Math.min(old, left), edge = get(left), values = [];
        for (let j = 0; j < chunk; j++) values.push(f32(2 * edge - get(left + chunk - j)));
        for (let j = 0; j < chunk; j++) set(left - chunk + j, values[j]);
        left -= chunk;
      }
      if (right > 0) {
        const chunk = Math.min(old, right), edge = get(n - right - 1), values = [];
        for (let j = 0; j < chunk; j++) values.push(f32(2 * edge - get(n - right - 2 - j)));
        for (let j = 0; j < chunk; j++) set(n - right + j, values[j]);
        right -= chunk;
      }
    }
  }

  // numpy.pad(small, m, mode) of a float32 picture: "reflect" (odd) or "edge"; the rows first
  // (within the picture's columns), then the columns of every row, as numpy pads axis by axis.
  function padded(small, w, h, m, reflect) {
    const pw = w + 2 * m, ph = h + 2 * m;
    const out = new Float32Array(pw * ph);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[(y + m) * pw + x + m] = small[y * w + x];
    }
    for (let x = m; x < m + w; x++) {
      const get = function (i) { return out[i * pw + x]; };
      const set = function (i, v) { out[i * pw + x] = v; };
      if (reflect) {
        reflectOdd(get, set, ph, m, m);
      } else {
        for (let i = 0; i < m; i++) { set(i, get(m)); set(ph - 1 - i, get(m + h - 1)); }
      }
    }
    for (let y = 0; y < ph; y++) {
      const get = function (i) { return out[y * pw + i]; };
      const set = function (i, v) { out[y * pw + i] = v; };
      if (reflect) {
        reflectOdd(get, set, pw, m, m);
      } else {
        for (let i = 0; i < m; i++) { set(i, get(m)); set(pw - 1 - i, get(m + w - 1)); }
      }
    }
    return out;
  }

  // Pillow's MaxFilter(size) or MinFilter(size) (pick is Math.max or Math.min): the extreme of
  // each size x size square, by rows then by columns (the same value); edges repeated outside.
  function rankFilter(src, w, h, size, pick) {
    const r = size >> 1;
    const rows = new Float32Array(w * h), out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = src[y * w + x];
        for (let i = Math.max(0, x - r); i <= Math.min(w - 1, x + r); i++) v = pick(v, src[y * w + i]);
        rows[y * w + x] = v;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let v = rows[y * w + x];
        for (let i = Math.max(0, y - r); i <= Math.min(h - 1, y + r); i++) v = pick(v, rows[i * w + x]);
        out[y * w + x] = v;
      }
    }
    return out;
  }

  // numpy.median of float32 values (the mean of the middle two, in float32, for an even count).
  function median(values) {
    const sorted = Float32Array.from(values).sort();
    const half = sorted.length >> 1;
    return sorted.length % 2 ? sorted[half] : f32((sorted[half - 1] + sorted[half]) / 2);
  }

  // mxsoftmax.images.flattened: a dark-on-light picture as if under flat light. The paper's
  // brightness is a closing (max then min filter) of a copy averaged down to at most paper_side
  // pixels a side, its edges mirrored through their values, enlarged bilinearly; how much darker
  // than the paper each pixel is, less the paper's noise, is divided by the paper's brightness.
  function flattened(gray, width, height) {
    const n = width * height;
    const factor = Math.max(1, Math.ceil(Math.max(height, width) / recipe.paper_side));
    const small = factor > 1 ? reduceFloat(gray, width, height, factor)
      : {data: gray, width: width, height: height};
    const sw = small.width, sh = small.height, shortest = Math.min(sw, sh);
    const m = 2 * Math.ceil(recipe.paper_window * shortest / 2) + 1;
    const wide = padded(small.data, sw, sh, m, shortest > 1);
    let top = -Infinity;
    for (let i = 0; i < n; i++) top = Math.max(top, gray[i]);
    for (let i = 0; i < wide.length; i++) wide[i] = Math.min(Math.max(wide[i], 0), top);
    const pw = sw + 2 * m, ph = sh + 2 * m;
    const closed = rankFilter(rankFilter(wide, pw, ph, m, Math.max), pw, ph, m, Math.min);
    const estimate = new Float32Array(sw * sh);
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < sw; x++) estimate[y * sw + x] = closed[(y + m) * pw + x + m];
    }
    const paper = resize(estimate, sw, sh, width, height, BILINEAR);
    const shade = new Float32Array(n);
    for (let i = 0; i < n; i++) shade[i] = paper[i] - gray[i];
    const typical = median(shade);
    const spread = new Float32Array(n);
    for (let i = 0; i < n; i++) spread[i] = Math.abs(f32(shade[i] - typical));
    // a float64 in numpy, rounded to float32 where it meets the float32 shade
    const noise = f32(recipe.paper_noise * 1.4826 * median(spread));
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = Math.max(f32(f32(shade[i] - typical) - noise), 0);
      out[i] = Math.min(Math.max(f32(255 - f32(f32(s * 255) / Math.max(paper[i], 1))), 0), 255);
    }
    return out;
  }

  // images._border: the pixels on the four edges (top row, bottom row, left and right column).
  function edges(gray, width, height) {
    const border = [];
    for (let x = 0; x < width; x++) border.push(gray[x]);
    for (let x = 0; x < width; x++) border.push(gray[(height - 1) * width + x]);
    for (let y = 0; y < height; y++) border.push(gray[y * width]);
    for (let y = 0; y < height; y++) border.push(gray[y * width + width - 1]);
    return Float32Array.from(border);
  }

  // mxsoftmax.images.to_model_input: gray (Float32Array, width x height) to 784 uint8 pixels.
  function toModelInput(gray, width, height, invert) {
    let border = edges(gray, width, height);
    const borderSum = pairwiseSum(border, 0, border.length, f32);
    const n = width * height;
    if (invert === "yes" ||
        (invert === "auto" && f32(borderSum / border.length) > recipe.invert_when_border_mean_above)) {
      // dark on light: inverted, pen strokes first freed of uneven light
      const light = recipe.flatten_paper ? flattened(gray, width, height) : gray;
      gray = new Float32Array(n);
      for (let i = 0; i < n; i++) gray[i] = 255 - light[i];
      border = edges(gray, width, height);
    }
    const level = median(border);
    const ink = new Float32Array(n);
    let peak = 0;
    for (let i = 0; i < n; i++) {
      ink[i] = Math.max(f32(gray[i] - level), 0);
      if (ink[i] > peak) peak = ink[i];
    }
    if (peak < recipe.min_contrast) {
      throw new Error("The picture is blank: nothing stands out from its background.");
    }
    const gain = f32(255 / peak);
    const threshold = f32(recipe.ink_threshold * 255);
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = ink[y * width + x] = f32(ink[y * width + x] * gain);
        if (v >= threshold) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    const h0 = bottom - top + 1, w0 = right - left + 1;
    const crop = new Float32Array(h0 * w0);
    for (let y = 0; y < h0; y++) {
      for (let x = 0; x < w0; x++) crop[y * w0 + x] = ink[(top + y) * width + left + x];
    }
    const scale = recipe.side / Math.max(h0, w0);
    const w = Math.max(1, roundHalfEven(w0 * scale)), h = Math.max(1, roundHalfEven(h0 * scale));
    const patch = resize(crop, w0, h0, w, h);
    for (let i = 0; i < patch.length; i++) patch[i] = Math.min(Math.max(patch[i], 0), 255);
    let y0, x0;
    if (recipe.centring === "mass") {
      const mass = pairwiseSum(patch, 0, patch.length, f32) || 1;
      const ys = new Float64Array(patch.length), xs = new Float64Array(patch.length);
      for (let i = 0; i < patch.length; i++) {
        ys[i] = Math.floor(i / w) * patch[i];
        xs[i] = (i % w) * patch[i];
      }
      y0 = roundHalfEven(14 - pairwiseSum(ys, 0, ys.length, identity) / mass);
      x0 = roundHalfEven(14 - pairwiseSum(xs, 0, xs.length, identity) / mass);
    } else {  // an odd spare pixel goes before the item, as in Fashion-MNIST's images
      y0 = Math.floor((29 - h) / 2);
      x0 = Math.floor((29 - w) / 2);
    }
    y0 = Math.min(Math.max(y0, 0), 28 - h);
    x0 = Math.min(Math.max(x0, 0), 28 - w);
    const out = new Uint8Array(D);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[(y0 + y) * 28 + x0 + x] = roundHalfEven(patch[y * w + x]);
    }
    return out;
  }

  // ------------------------------------------------------------------ the model

  function answer(seen) {
    const x = Float64Array.from(seen, function (v) { return f32(v / 255); });
    const score = Array.from(b);
    for (let i = 0; i < D; i++) {
      if (!x[i]) continue;
      for (let k = 0; k < K; k++) score[k] += x[i] * W[i * K + k];
    }
    const top = Math.max.apply(null, score);
    const e = score.map(function (s) { return Math.exp(s - top); });
    const total = e.reduce(function (p, q) { return p + q; }, 0);
    const probabilities = e.map(function (v) { return v / total; });
    const order = probabilities.map(function (p, k) { return k; })
      .sort(function (p, q) { return probabilities[q] - probabilities[p] || p - q; });
    const entry = function (k) { return {label: k, name: classes[k], probability: probabilities[k]}; };
    const first = entry(order[0]);
    return {label: first.label, name: first.name, probability: first.probability,
            top3: order.slice(0, 3).map(entry), probabilities: probabilities, score: score,
            seen: Array.from(seen), x: x};
  }

  // Any ImageData (or {data, width, height} of RGBA bytes) to the model's answer, as predict gives it.
  function classify(imageData, invert) {
    if (["auto", "yes", "no"].indexOf(invert) < 0) throw new Error("invert is auto, yes or no.");
    let rgba = imageData.data, width = imageData.width, height = imageData.height;
    if (!width || !height) throw new Error("The picture is empty.");
    if (width * height > MAX_PIXELS) throw new Error("The picture has more than 40 megapixels.");
    const factor = Math.ceil(Math.max(width, height) / WORK_SIDE);
    if (factor > 1) {
      const small = reduce(rgba, width, height, factor);
      rgba = small.data; width = small.width; height = small.height;
    }
    const seen = toModelInput(toGray(rgba, width * height), width, height, invert);
    return answer(seen);
  }
  window.mxsoftmaxClassify = function (imageData, invert) {
    const result = classify(imageData, invert === undefined ? "auto" : invert);
    delete result.x;
    return result;
  };

  // ------------------------------------------------------------------ the page

  const page = window.mxsoftmaxPage;   // canvas.js, inlined before this script
  const view = page.answer(classes);
  const say = page.say, reset = view.reset;
  let drawn = false;         // anything on the canvas since the last Clear
  let frame = 0;             // a pending requestAnimationFrame while drawing
  const pad = page.pad({willReadFrequently: true}, {
    down: function () {
      drawn = true;
      soon();
    },
    move: soon,
    up: update,  // at once: the answer shown is the whole drawing's
  });

  function clear() {
    cancelAnimationFrame(frame);
    frame = 0;
    drawn = false;
    pad.wipe();
    reset();
    say("Draw with a mouse, pen or finger.");
  }

  // The answer is computed here, from the canvas's own pixels, so it is always the drawing's.
  function update() {
    cancelAnimationFrame(frame);
    frame = 0;
    if (!drawn) return;
    const pixels = pad.pen.getImageData(0, 0, pad.canvas.width, pad.canvas.height);
    try {
      show(classify(pixels, "auto"));
      say(pad.drawing() ? "Drawing…" : "Keep drawing, or Clear to start again.");
    } catch (err) {
      reset();
      say(err.message, true);
    }
  }

  function soon() {
    if (!frame) frame = requestAnimationFrame(update);
  }
  document.getElementById("clear").addEventListener("click", clear);

  // A picture of your own: decoded by the browser, then the same recipe as a drawing.
  document.getElementById("open").addEventListener("change", function (event) {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    createImageBitmap(file, {colorSpaceConversion: "none", premultiplyAlpha: "none"})
      .then(function (bitmap) {
        const canvas = document.createElement("canvas");
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        const g = canvas.getContext("2d");
        g.drawImage(bitmap, 0, 0);
        const result = classify(g.getImageData(0, 0, canvas.width, canvas.height), "auto");
        clear();
        drawn = false;
        show(result);
        say(file.name + ": what the model saw is below. Draw to try your own.");
      })
      .catch(function (err) {
        reset();
        say(file.name + ": " + (err.message || "not a picture this browser can read") + ".", true);
      });
  });

  // The answer computed here; the evidence maps are each pixel's vote x * W[:, k] for the top 3,
  // whose votes plus b[k] are the class's score.
  function show(data) {
    const maps = data.top3.map(function (item) {
      const k = item.label;
      return {item: item, votes: Array.from(data.x, function (v, i) { return v * W[i * K + k]; })};
    });
    let scale = 0;
    maps.forEach(function (m) { m.votes.forEach(function (v) { scale = Math.max(scale, Math.abs(v)); }); });
    view.show({
      label: data.label,
      name: data.name,
      probability: data.probability,
      probabilities: data.probabilities,
      seen: function (i) { return data.seen[i]; },
      scale: scale || 1,
      maps: maps.map(function (m) {
        const item = m.item, k = item.label;
        const votes = data.score[k] - b[k];
        const bias = b[k] < 0 ? "(−" + (-b[k]).toFixed(2) + ")" : b[k].toFixed(2);
        return {name: item.name, vote: function (i) { return m.votes[i]; },
                caption: [page.classTitle(k, item.name) + " · votes " + votes.toFixed(2) +
                          " + b " + bias + " = score " + data.score[k].toFixed(2)]};
      }),
    });
  }

  clear();
})();
