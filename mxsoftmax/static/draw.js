// The draw page: white strokes on a black canvas (pointer events: mouse, pen, touch); while you
// draw, the canvas is sent as a PNG to POST /predict (debounced, one request at a time), and at
// once when the pen lifts; the answer is shown: class and name, ten probability bars, the 28x28
// input, top-3 evidence maps with votes + b = score.
//
// Never a stale answer: each request takes the canvas as it is at that moment (toDataURL is
// synchronous, unlike toBlob, whose callback can come after later strokes) and gets a number;
// only the answer to the latest number is shown, older ones are dropped. #answer's data-sent,
// data-shown and data-pending say which drawing was sent last, which one is shown and how many
// requests are still out.
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
  let drawn = 0;             // changes to the canvas since the last Clear (0: nothing drawn)
  let sentDrawn = 0;         // the value of drawn in the last request
  let sent = 0;              // number of the latest request; Clear bumps it too
  let pending = 0;           // requests not answered yet
  let timer = null, firstWait = 0, busy = false, again = false;
  const answer = document.getElementById("answer");

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
    sent += 1;                 // answers to the old drawing are dropped
    drawn = sentDrawn = 0;
    clearTimeout(timer);
    firstWait = 0;
    note();
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, pad.width, pad.height);
    document.getElementById("label").textContent = "?";
    document.getElementById("name").textContent = "";
    document.getElementById("probability").textContent = "";
    document.getElementById("score").textContent = "";
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
    drawn += 1;
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
    drawn += 1;
    schedule();
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (type) {
    pad.addEventListener(type, function (event) {
      if (stroke && event.pointerId === stroke.id) {
        stroke = null;
        clearTimeout(timer);
        firstWait = 0;
        send(canvasPng());     // the whole drawing, now, even while another request is out
      }
    });
  });
  document.getElementById("clear").addEventListener("click", clear);

  // While drawing: a request after a pause of DEBOUNCE_MS, at least every MAX_WAIT_MS, and one
  // at a time (a drawing that changed meanwhile is sent when the answer comes).
  function schedule() {
    clearTimeout(timer);
    const now = performance.now();
    if (!firstWait) firstWait = now;
    timer = setTimeout(tick, now - firstWait >= MAX_WAIT_MS ? 0 : DEBOUNCE_MS);
  }

  function tick() {
    firstWait = 0;
    if (!drawn || drawn === sentDrawn) return;
    if (busy) { again = true; return; }
    busy = true;
    send(canvasPng()).finally(function () {
      busy = false;
      if (again) { again = false; tick(); }
    });
  }

  // The canvas as PNG bytes, read at this moment.
  function canvasPng() {
    const url = pad.toDataURL("image/png");
    const text = atob(url.slice(url.indexOf(",") + 1));
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  // POST one drawing; its answer (or error) is shown only if no newer drawing was sent since.
  function send(png) {
    if (!drawn) return Promise.resolve();
    const mine = ++sent;
    sentDrawn = drawn;
    pending += 1;
    note();
    return fetch("/predict", {method: "POST", headers: {"Content-Type": "image/png"}, body: png})
      .then(function (response) {
        return response.json().then(function (data) {
          if (mine !== sent) return;
          if (response.ok) show(data);
          else say(data.error || ("The server answered " + response.status + "."), true);
          answer.dataset.shown = String(mine);
        });
      })
      .catch(function (err) {
        if (mine !== sent) return;
        say("The server did not answer (" + err.message + ").", true);
        answer.dataset.shown = String(mine);
      })
      .finally(function () {
        pending -= 1;
        note();
      });
  }

  function note() {
    answer.dataset.sent = String(sent);
    answer.dataset.pending = String(pending);
  }

  function signed(x) {
    return (x < 0 ? "\u2212" : "+") + Math.abs(x).toFixed(2);
  }

  function show(data) {
    document.getElementById("label").textContent = String(data.label);
    document.getElementById("name").textContent = data.name === String(data.label) ? "" : data.name;
    document.getElementById("probability").textContent =
      "p = " + data.probability.toFixed(3);
    document.getElementById("score").textContent = "score " + signed(data.score);
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
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = item.name === String(item.label) ? item.name : item.label + " " + item.name;
      const sum = document.createElement("span");
      sum.className = "sum";
      sum.textContent = "votes " + signed(item.votes) + " + b " + signed(item.bias) +
        " = score " + signed(item.score);
      caption.append(title, sum);
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
