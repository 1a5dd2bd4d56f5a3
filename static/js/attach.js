/* Images for the composer's message: the "Attach images" file input, paste and drag and
   drop all upload over HTTP to the conversation's attach address (#attach-endpoint); the
   server answers with the tray (#attachment-tray), whose hidden `attachments` inputs the
   composer's websocket send carries. Sending waits while an upload is under way.
   The model choice (#vision-choice) fills the hidden `vision` field and sends again.
   Plain script, no inline code; the markup comes from the server (templates/chat/_vision.html). */
(function () {
  "use strict";

  var uploading = 0;

  function endpoint() {
    return document.getElementById("attach-endpoint");
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function announce(text) {
    var region = document.getElementById("live-region");
    if (region && text) region.textContent = text;
  }

  /* The server's tray replaces ours (its markup, parsed by the browser as htmx would). */
  function showTray(html) {
    var tray = document.getElementById("attachment-tray");
    if (!tray) return;
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.firstElementChild;
    if (!fresh || fresh.id !== "attachment-tray") return;
    tray.replaceWith(fresh);
    var errors = fresh.querySelector(".attachment-errors");
    if (errors) announce(errors.textContent.trim());
  }

  function showFailure() {
    var tray = document.getElementById("attachment-tray");
    var point = endpoint();
    if (!tray || !point) return;
    var list = tray.querySelector(".attachment-errors");
    if (!list) {
      list = document.createElement("ul");
      list.className = "field-error attachment-errors";
      list.setAttribute("role", "alert");
      tray.appendChild(list);
    }
    var item = document.createElement("li");
    item.textContent = point.dataset.failedLabel || "The images could not be attached.";
    list.replaceChildren(item);
    tray.hidden = false;
  }

  function post(url, body) {
    uploading += 1;
    var tray = document.getElementById("attachment-tray");
    if (tray) tray.setAttribute("aria-busy", "true");
    var point = endpoint();
    if (point && point.dataset.uploadingLabel) announce(point.dataset.uploadingLabel);
    return window
      .fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      })
      .then(function (response) {
        return response.text().then(function (text) {
          if (text.indexOf('id="attachment-tray"') === -1) throw new Error("no tray");
          showTray(text);
        });
      })
      .catch(showFailure)
      .then(function () {
        uploading -= 1;
        var current = document.getElementById("attachment-tray");
        if (current) current.removeAttribute("aria-busy");
      });
  }

  function upload(files) {
    var point = endpoint();
    if (!point || !files || !files.length || !window.fetch) return;
    var body = new FormData();
    Array.prototype.forEach.call(files, function (file) {
      body.append("images", file, file.name || "image");
    });
    post(point.dataset.url, body);
  }

  function imageFiles(list) {
    return Array.prototype.filter.call(list || [], function (file) {
      // The server decides by the bytes; this only keeps text pastes out.
      return !file.type || file.type.indexOf("image/") === 0 || /\.(heic|heif)$/i.test(file.name);
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.id !== "composer-images") return;
    upload(input.files);
    input.value = "";
  });

  document.addEventListener("paste", function (event) {
    var target = event.target;
    if (!(target instanceof Element) || !target.closest("#composer") || !endpoint()) return;
    var data = event.clipboardData;
    var files = imageFiles(data && data.files);
    if (!files.length && data && data.items) {
      files = imageFiles(
        Array.prototype.map
          .call(data.items, function (item) {
            return item.kind === "file" ? item.getAsFile() : null;
          })
          .filter(Boolean)
      );
    }
    if (!files.length) return; // text pastes as text
    event.preventDefault();
    upload(files);
  });

  function dropZone(target) {
    return target instanceof Element && endpoint() ? target.closest(".chat") : null;
  }

  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  document.addEventListener("dragover", function (event) {
    var zone = dropZone(event.target);
    if (!zone || !carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("is-dropping");
  });

  document.addEventListener("dragleave", function (event) {
    var zone = dropZone(event.target);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("is-dropping");
  });

  document.addEventListener("drop", function (event) {
    var zone = dropZone(event.target);
    if (!zone || !carriesFiles(event)) return;
    event.preventDefault();
    zone.classList.remove("is-dropping");
    upload(imageFiles(event.dataTransfer.files));
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var remove = target.closest(".attachment-remove");
    if (remove) {
      post(remove.getAttribute("data-remove-url"), new FormData()).then(function () {
        var area = document.getElementById("composer-text");
        if (area) area.focus();
      });
      return;
    }
    var choice = target.closest("[data-vision-choice]");
    if (choice) {
      var form = document.getElementById("composer");
      var field = document.getElementById("composer-vision");
      if (!form || !field) return;
      field.value = choice.getAttribute("data-vision-choice");
      // The server saves the new model; the header's menu shows it at once.
      var select = document.getElementById("model-select");
      var model = choice.getAttribute("data-model");
      if (select && model) {
        Array.prototype.forEach.call(select.options, function (option) {
          if (option.value === model) select.value = model;
        });
      }
      var box = document.getElementById("vision-choice");
      if (box) box.hidden = true;
      if (form.requestSubmit) form.requestSubmit();
    }
  });

  // A send while an upload is under way would leave its images behind: hold it.
  window.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!(form instanceof Element) || form.id !== "composer" || uploading === 0) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      var point = endpoint();
      if (point && point.dataset.uploadingLabel) announce(point.dataset.uploadingLabel);
    },
    true
  );
})();
