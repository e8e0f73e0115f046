// The draw page: white strokes on a black canvas (pointer events: mouse, pen, touch); while you
// draw, the canvas is sent as a PNG to POST /predict (debounced, one request at a time) and the
// answer is shown: class and name, ten probability bars, the 28x28 input, top-3 evidence maps.
"use strict";
(function () {
  const classes = JSON.parse(document.body.dataset.classes);
  const pad = document.getElementById("pad");
  const pen = pad.getContext("2d");
  const status = document.getElementById("status");
  const DEBOUNCE_MS = 120;   // after the last stroke movement
  const MAX_WAIT_MS = 400;   // but at least this often while drawing goes on
  const FOR = [198, 40, 40];
  const AGAINST = [30, 91, 198];
  let stroke = null;         // {id, x, y} of the pointer drawing now
  let drawn = false;         // anything on the canvas since the last Clear
  let generation = 0;        // bumped by Clear, so late answers for an old drawing are dropped
  let timer = null, firstWait = 0, busy = false, again = false;

  // Ten bars, one per class, in class order.
  const bars = document.getElementById("bars");
  const rows = classes.map(function (name, k) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "class";
    label.textContent = name === String(k) ? name : k + " " + name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = "–";
    li.append(label, track, value);
    bars.appendChild(li);
    return {li: li, fill: fill, value: value};
  });

  function clear() {
    generation += 1;
    drawn = false;
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, pad.width, pad.height);
    document.getElementById("label").textContent = "?";
    document.getElementById("name").textContent = "";
    document.getElementById("probability").textContent = "";
    rows.forEach(function (row) {
      row.li.classList.remove("top");
      row.fill.style.width = "0";
      row.value.textContent = "–";
    });
    paint(document.getElementById("seen"), null);
    document.getElementById("maps").replaceChildren();
    document.getElementById("scale").textContent = "±0";
    say("Draw with a mouse, pen or finger.");
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function at(event) {
    const box = pad.getBoundingClientRect();
    return {x: (event.clientX - box.left) * pad.width / box.width,
            y: (event.clientY - box.top) * pad.height / box.height};
  }

  function line(from, to) {
    pen.strokeStyle = "#fff";
    pen.lineWidth = pad.width / 12;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.beginPath();
    pen.moveTo(from.x, from.y);
    pen.lineTo(to.x, to.y);
    pen.stroke();
  }

  pad.addEventListener("pointerdown", function (event) {
    if (stroke || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    const p = at(event);
    stroke = {id: event.pointerId, x: p.x, y: p.y};
    line(p, p);
    drawn = true;
    schedule();
  });
  pad.addEventListener("pointermove", function (event) {
    if (!stroke || event.pointerId !== stroke.id) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    (events.length ? events : [event]).forEach(function (e) {
      const p = at(e);
      line(stroke, p);
      stroke.x = p.x;
      stroke.y = p.y;
    });
    schedule();
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (type) {
    pad.addEventListener(type, function (event) {
      if (stroke && event.pointerId === stroke.id) {
        stroke = null;
        schedule();
      }
    });
  });
  document.getElementById("clear").addEventListener("click", clear);

  function schedule() {
    clearTimeout(timer);
    const now = performance.now();
    if (!firstWait) firstWait = now;
    timer = setTimeout(send, now - firstWait >= MAX_WAIT_MS ? 0 : DEBOUNCE_MS);
  }

  function send() {
    firstWait = 0;
    if (!drawn) return;
    if (busy) { again = true; return; }
    busy = true;
    const mine = generation;
    pad.toBlob(function (blob) {
      fetch("/predict", {method: "POST", headers: {"Content-Type": "image/png"}, body: blob})
        .then(function (response) {
          return response.json().then(function (data) {
            if (mine !== generation) return;
            if (response.ok) show(data);
            else say(data.error || ("The server answered " + response.status + "."), true);
          });
        })
        .catch(function (err) { say("The server did not answer (" + err.message + ").", true); })
        .finally(function () {
          busy = false;
          if (again) { again = false; send(); }
        });
    }, "image/png");
  }

  function show(data) {
    document.getElementById("label").textContent = String(data.label);
    document.getElementById("name").textContent = data.name === String(data.label) ? "" : data.name;
    document.getElementById("probability").textContent =
      "p = " + data.probability.toFixed(3);
    data.probabilities.forEach(function (p, k) {
      rows[k].li.classList.toggle("top", k === data.label);
      rows[k].fill.style.width = (100 * p).toFixed(1) + "%";
      rows[k].value.textContent = (100 * p).toFixed(1) + "%";
    });
    paint(document.getElementById("seen"), function (i) {
      const v = data.seen[Math.floor(i / 28)][i % 28];
      return [v, v, v];
    });
    const scale = data.evidence_scale || 1;
    const maps = document.getElementById("maps");
    maps.replaceChildren();
    data.evidence.forEach(function (item) {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 28;
      canvas.setAttribute("aria-label", "Evidence for " + item.name);
      paint(canvas, function (i) {
        const t = Math.max(-1, Math.min(1, item.map[Math.floor(i / 28)][i % 28] / scale));
        const end = t >= 0 ? FOR : AGAINST;
        const a = Math.abs(t);
        return end.map(function (c) { return Math.round(255 + (c - 255) * a); });
      });
      const caption = document.createElement("figcaption");
      caption.textContent = (item.name === String(item.label) ? item.name : item.label + " " + item.name) +
        " · logit " + item.logit.toFixed(2);
      figure.append(canvas, caption);
      maps.appendChild(figure);
    });
    document.getElementById("scale").textContent = "±" + scale.toPrecision(2) + " per pixel";
    say("Keep drawing, or Clear to start again.");
  }

  // Fill a 28x28 canvas from colour(i) for pixel i = row * 28 + column; null paints it black.
  function paint(canvas, colour) {
    const g = canvas.getContext("2d");
    const image = g.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const rgb = colour ? colour(i) : [0, 0, 0];
      image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
    }
    g.putImageData(image, 0, 0);
  }

  clear();
})();
