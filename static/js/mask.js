// Media job cards: the Vary (Region) mask editor in their dialogs (app.js opens them).
// Plain JS, no inline handlers (CSP-clean); works on cards swapped in later (delegation).
// The mask is a PNG as big as the picture: black everywhere, white where the user painted.
(function () {
  "use strict";

  function setup(editor) {
    if (editor.dataset.ready) return;
    editor.dataset.ready = "1";
    var form = editor.closest("form");
    var output = form.querySelector("[data-mask-output]");
    var brush = form.querySelector("[data-mask-brush]");
    var img = document.createElement("img");
    var canvas = document.createElement("canvas");
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", editor.dataset.maskLabel || "");
    img.alt = "";
    editor.append(img, canvas);
    var ctx = canvas.getContext("2d");
    var painted = false;
    var cursor = { x: 0, y: 0 };

    function reset() {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      painted = false;
      output.value = "";
    }
    function save() {
      output.value = painted ? canvas.toDataURL("image/png") : "";
    }
    function dot(x, y) {
      var scale = canvas.width / canvas.getBoundingClientRect().width || 1;
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      ctx.arc(x, y, (Number(brush.value) / 2) * scale, 0, Math.PI * 2);
      ctx.fill();
      painted = true;
    }
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - box.left) / box.width) * canvas.width,
        y: ((event.clientY - box.top) / box.height) * canvas.height,
      };
    }
    img.addEventListener("load", function () {
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      cursor = { x: canvas.width / 2, y: canvas.height / 2 };
      reset();
    });
    img.src = editor.dataset.maskSrc;

    var drawing = false;
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      dot(p.x, p.y);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      dot(p.x, p.y);
    });
    canvas.addEventListener("pointerup", function () {
      drawing = false;
      save();
    });
    // Keyboard: arrows move the brush, Space or Enter paints where it is.
    canvas.addEventListener("keydown", function (event) {
      var step = canvas.width / 20;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[event.key]) {
        cursor.x = Math.max(0, Math.min(canvas.width, cursor.x + moves[event.key][0]));
        cursor.y = Math.max(0, Math.min(canvas.height, cursor.y + moves[event.key][1]));
        event.preventDefault();
      } else if (event.key === " " || event.key === "Enter") {
        dot(cursor.x, cursor.y);
        save();
        event.preventDefault();
      }
    });
    form.querySelector("[data-mask-clear]").addEventListener("click", reset);
  }

  // app.js opens the dialogs; this sets up the mask editors of the one opened, and of one
  // opened before this deferred script had run.
  document.addEventListener("parlor:dialog-open", function (event) {
    event.target.querySelectorAll("[data-mask-src]").forEach(setup);
  });
  document.querySelectorAll("dialog[open] [data-mask-src]").forEach(setup);
})();

// A live push announces a new job with a stub that loads its card; the tab that started the
// job already shows that card (the answer to its own form or command): drop the twin stub.
document.addEventListener("htmx:beforeRequest", function (event) {
  var element = event.detail.elt;
  if (!element.id || element.id.indexOf("job-") !== 0 || element.classList.contains("job-card")) {
    return;
  }
  if (document.querySelectorAll('[id="' + element.id + '"]').length > 1) {
    event.preventDefault();
    element.remove();
  }
});

// The answer to a press and the live push of the same new job may both bring its card: keep
// the first one on the page.
document.addEventListener("htmx:load", function (event) {
  var cards = event.detail.elt.matches && event.detail.elt.matches(".job-card")
    ? [event.detail.elt]
    : Array.prototype.slice.call(event.detail.elt.querySelectorAll ? event.detail.elt.querySelectorAll(".job-card") : []);
  cards.forEach(function (card) {
    var twins = document.querySelectorAll('[id="' + card.id + '"]');
    for (var i = 1; i < twins.length; i++) twins[i].remove();
  });
});
