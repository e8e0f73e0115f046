// The draw page, after canvas.js (which draws strokes on the canvas and shows the answer): while
// you draw, the canvas is sent as a PNG to POST /predict (debounced, one request at a time), and at
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
  const page = window.mxsoftmaxPage;   // canvas.js: the drawing and the answer shown
  const classes = JSON.parse(document.body.dataset.classes);
  const DEBOUNCE_MS = 120;   // after the last stroke movement
  const MAX_WAIT_MS = 400;   // but at least this often while drawing goes on
  let drawn = 0;             // changes to the canvas since the last Clear (0: nothing drawn)
  let sentDrawn = 0;         // the value of drawn in the last request
  let sent = 0;              // number of the latest request; Clear bumps it too
  let pending = 0;           // requests not answered yet
  let timer = null, firstWait = 0, busy = false, again = false;
  const answer = document.getElementById("answer");
  const view = page.answer(classes);
  const say = page.say;

  function changed() {
    drawn += 1;
    schedule();
  }
  const pad = page.pad(undefined, {
    down: changed,
    move: changed,
    up: function () {
      clearTimeout(timer);
      firstWait = 0;
      send(canvasPng());     // the whole drawing, now, even while another request is out
    },
  });

  function clear() {
    sent += 1;                 // answers to the old drawing are dropped
    drawn = sentDrawn = 0;
    clearTimeout(timer);
    firstWait = 0;
    note();
    pad.wipe();
    view.reset();
    say("Draw with a mouse, pen or finger.");
  }
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
    const url = pad.canvas.toDataURL("image/png");
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

  // The server's answer: its 28x28 input and its evidence maps are rows of 28 values.
  function show(data) {
    const signed = page.signed;
    view.show({
      label: data.label,
      name: data.name,
      probability: data.probability,
      probabilities: data.probabilities,
      score: data.score,
      seen: function (i) { return data.seen[Math.floor(i / 28)][i % 28]; },
      scale: data.evidence_scale || 1,
      maps: data.evidence.map(function (item) {
        const title = document.createElement("span");
        title.className = "title";
        title.textContent = page.classTitle(item.label, item.name);
        const sum = document.createElement("span");
        sum.className = "sum";
        sum.textContent = "votes " + signed(item.votes) + " + b " + signed(item.bias) +
          " = score " + signed(item.score);
        return {name: item.name, vote: function (i) { return item.map[Math.floor(i / 28)][i % 28]; },
                caption: [title, sum]};
      }),
    });
    say("Keep drawing, or Clear to start again.");
  }

  clear();
})();
