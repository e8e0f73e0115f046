// What the draw page (draw.js, which asks the server) and the exported page (export.js, which
// computes the answer itself) do alike: white strokes on the black canvas #pad (pointer events:
// mouse, pen, touch), the status line #status, and the answer shown: class and name, ten
// probability bars, the 28x28 input and the top-3 evidence maps with votes + b = score.
//
// Loaded before the page's own script (the exported page holds it inline, first): it defines
// window.mxsoftmaxPage and touches nothing until the page calls it.
"use strict";
window.mxsoftmaxPage = (function () {
  const FOR = [198, 40, 40];
  const AGAINST = [30, 91, 198];

  function byId(id) {
    return document.getElementById(id);
  }

  // A class as the page names it: "k name", or the name alone when it is the class number.
  function classTitle(k, name) {
    return name === String(k) ? name : k + " " + name;
  }

  // A number with its sign and two decimals: +1.25, −0.40 (a real minus sign).
  function signed(x) {
    return (x < 0 ? "\u2212" : "+") + Math.abs(x).toFixed(2);
  }

  function say(text, isError) {
    const status = byId("status");
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  // Drawing on #pad (its 2d context made with contextOptions): on.down() after a stroke begins,
  // on.move() after it goes on, on.up() after it ends (the pointer lifted or cancelled, or its
  // capture lost). Returns the canvas, its pen, wipe() (all black) and drawing() (a stroke now).
  function pad(contextOptions, on) {
    const pad = byId("pad");
    const pen = pad.getContext("2d", contextOptions);
    let stroke = null;         // {id, x, y} of the pointer drawing now

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
      on.down();
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
      on.move();
    });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (type) {
      pad.addEventListener(type, function (event) {
        if (stroke && event.pointerId === stroke.id) {
          stroke = null;
          on.up();
        }
      });
    });

    return {
      canvas: pad,
      pen: pen,
      wipe: function () {
        pen.fillStyle = "#000";
        pen.fillRect(0, 0, pad.width, pad.height);
      },
      drawing: function () { return stroke !== null; },
    };
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

  // The answer's place: #label, #name, #probability, #score (when the page has it), one bar per
  // class in #bars (made here, in class order), #seen, #maps and #scale. Returns reset() (no
  // answer) and show(view), view being
  //   {label, name, probability, probabilities, score (shown in #score; leave it out when the
  //    page has none), seen(i) (pixel i of the 28x28 input, 0-255), scale (votes that get the
  //    full colour), maps: [{name, vote(i) (pixel i's vote), caption: [text or nodes]}]}.
  function answer(classes) {
    const bars = byId("bars");
    const rows = classes.map(function (name, k) {
      const li = document.createElement("li");
      const label = document.createElement("span");
      label.className = "class";
      label.textContent = classTitle(k, name);
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

    function reset() {
      byId("label").textContent = "?";
      byId("name").textContent = "";
      byId("probability").textContent = "";
      const score = byId("score");
      if (score) score.textContent = "";
      rows.forEach(function (row) {
        row.li.classList.remove("top");
        row.fill.style.width = "0";
        row.value.textContent = "–";
      });
      paint(byId("seen"), null);
      byId("maps").replaceChildren();
      byId("scale").textContent = "±0";
    }

    function show(view) {
      byId("label").textContent = String(view.label);
      byId("name").textContent = view.name === String(view.label) ? "" : view.name;
      byId("probability").textContent = "p = " + view.probability.toFixed(3);
      if (view.score !== undefined) byId("score").textContent = "score " + signed(view.score);
      view.probabilities.forEach(function (p, k) {
        rows[k].li.classList.toggle("top", k === view.label);
        rows[k].fill.style.width = (100 * p).toFixed(1) + "%";
        rows[k].value.textContent = (100 * p).toFixed(1) + "%";
      });
      paint(byId("seen"), function (i) {
        const v = view.seen(i);
        return [v, v, v];
      });
      const maps = byId("maps");
      maps.replaceChildren();
      view.maps.forEach(function (item) {
        const figure = document.createElement("figure");
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 28;
        canvas.setAttribute("aria-label", "Evidence for " + item.name);
        paint(canvas, function (i) {
          const t = Math.max(-1, Math.min(1, item.vote(i) / view.scale));
          const end = t >= 0 ? FOR : AGAINST;
          const a = Math.abs(t);
          return end.map(function (c) { return Math.round(255 + (c - 255) * a); });
        });
        const caption = document.createElement("figcaption");
        caption.append.apply(caption, item.caption);
        figure.append(canvas, caption);
        maps.appendChild(figure);
      });
      byId("scale").textContent = "±" + view.scale.toPrecision(2) + " per pixel";
    }

    return {reset: reset, show: show};
  }

  return {classTitle: classTitle, signed: signed, say: say, pad: pad, answer: answer};
})();
