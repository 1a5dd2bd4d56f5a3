// The composer's Complete mode (chat.completions): show its options only while the mode select
// says "Complete" (a disabled fieldset is never sent), and keep the mode and the options when
// the server replaces the composer after a send. Plain JS, no inline handlers (CSP-clean).
(function () {
  "use strict";

  var MODE = "complete";
  var FIELDS = ["complete_model", "max_tokens", "temperature", "stop"];
  var remembered = null; // the options of the last send in Complete mode
  var composer = null; // the composer last seen: a new one is restored

  function parts() {
    var form = document.getElementById("composer");
    var select = document.getElementById("composer-mode");
    var box = document.getElementById("complete-options");
    if (!form || !select || !box) return null;
    return { form: form, select: select, box: box, area: document.getElementById("composer-text") };
  }

  function sync() {
    var p = parts();
    if (!p) return;
    var on = p.select.value === MODE;
    p.box.hidden = !on;
    p.box.disabled = !on;
    if (p.area) {
      if (!p.area.dataset.chatPlaceholder) p.area.dataset.chatPlaceholder = p.area.placeholder;
      p.area.placeholder = on ? p.box.dataset.promptPlaceholder : p.area.dataset.chatPlaceholder;
    }
  }

  function remember() {
    var p = parts();
    if (!p || p.select.value !== MODE) {
      remembered = null;
      return;
    }
    remembered = {};
    FIELDS.forEach(function (name) {
      var field = p.form.elements[name];
      if (field) remembered[name] = field.value;
    });
  }

  function restore() {
    var p = parts();
    composer = p ? p.form : null;
    if (!p || !remembered) return;
    var option = p.select.querySelector('option[value="' + MODE + '"]');
    if (!option) return; // no longer offered
    p.select.value = MODE;
    FIELDS.forEach(function (name) {
      var field = p.form.elements[name];
      if (!field || !(name in remembered)) return;
      if (field.tagName === "SELECT" && !field.querySelector('option[value="' + CSS.escape(remembered[name]) + '"]')) return;
      field.value = remembered[name];
    });
    sync();
  }

  document.addEventListener("change", function (event) {
    if (event.target instanceof Element && event.target.id === "composer-mode") sync();
  });
  document.addEventListener("submit", function (event) {
    if (event.target instanceof Element && event.target.id === "composer") remember();
  });
  // Every frame of the socket: a composer swapped in by it is a new element.
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (document.getElementById("composer") !== composer) restore();
  });
  document.addEventListener("DOMContentLoaded", function () {
    composer = document.getElementById("composer");
    sync();
  });
})();
