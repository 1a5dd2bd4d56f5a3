/* Read aloud (chat.speech): every finished reply has a "Read aloud" button.
   A press asks the server for the reply's parts (POST, CSRF), then plays them in order: the
   first part starts as soon as its audio begins to arrive (the server streams it from the
   gateway) and the next part is fetched while the one before plays. Pressing again stops.
   A part that fails (a gateway error, even one inside a 200) is shown as an error under the
   reply. With "Read new replies aloud" on, a reply that finishes while the page is open is read
   at once. The Settings page's "Play a sample" plays a short sentence in the chosen voice.
   Plain JS, CSP-safe: no inline code, no eval. */
(function () {
  "use strict";

  var session = null; // { button, message, audios, index, stopped }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, data) {
    var body = new URLSearchParams();
    Object.keys(data || {}).forEach(function (key) {
      body.set(key, data[key]);
    });
    return window
      .fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      })
      .then(readJson);
  }

  function readJson(response) {
    return response
      .json()
      .catch(function () {
        return {};
      })
      .then(function (data) {
        if (!response.ok) throw new Error(data.error || response.statusText || "Error");
        return data;
      });
  }

  function announce(text) {
    var region = document.getElementById("live-region");
    if (region && text) region.textContent = text;
  }

  function errorBox(message) {
    return message ? message.querySelector(".speech-error") : null;
  }

  function showError(message, text) {
    var box = errorBox(message);
    if (box) {
      box.textContent = text;
      box.hidden = false;
    } else {
      announce(text);
    }
  }

  function setState(button, message, state) {
    if (!button) return;
    var playing = state === "loading" || state === "playing";
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    button.setAttribute("data-speech-state", state);
    button.title = (playing ? button.dataset.stopLabel : button.dataset.readLabel) || button.title;
    if (message) message.setAttribute("data-speech-state", state);
  }

  /* ---------- playing a reply ---------- */

  function stop() {
    var current = session;
    session = null;
    if (!current) return;
    current.stopped = true;
    current.audios.forEach(function (audio) {
      audio.pause();
      audio.removeAttribute("src"); // stops a download; the server still keeps what it bought
      audio.load();
      if (audio.parentNode) audio.parentNode.removeChild(audio);
    });
    setState(current.button, current.message, "idle");
  }

  function partAudio(current, part) {
    var audio = document.createElement("audio");
    audio.className = "speech-audio";
    audio.hidden = true;
    audio.preload = "auto";
    audio.dataset.url = part.url;
    audio.addEventListener("playing", function () {
      if (session !== current) return;
      setState(current.button, current.message, "playing");
      prefetch(current, current.audios.indexOf(audio) + 1);
    });
    audio.addEventListener("ended", function () {
      if (session !== current) return;
      playPart(current, current.audios.indexOf(audio) + 1);
    });
    audio.addEventListener("error", function () {
      if (session !== current || !audio.getAttribute("src")) return;
      explain(current, audio);
    });
    (current.message || document.body).appendChild(audio);
    return audio;
  }

  /* Start downloading part `i` (its GET buys it if it was never bought). */
  function prefetch(current, i) {
    var audio = current.audios[i];
    if (audio && !audio.getAttribute("src")) audio.src = audio.dataset.url;
  }

  function playPart(current, i) {
    if (current.stopped) return;
    var audio = current.audios[i];
    if (!audio) {
      stop();
      return;
    }
    current.index = i;
    prefetch(current, i);
    var started = audio.play();
    if (started && started.catch) {
      started.catch(function (err) {
        if (session !== current || (err && err.name === "AbortError")) return;
        // Autoplay refused (no press on this page yet): the button starts it instead.
        stop();
      });
    }
  }

  /* A part that would not play: ask for it again without its ticket (which buys nothing) to
     learn why, and show that. */
  function explain(current, audio) {
    var url = audio.dataset.url.replace(/([?&])t=[^&]*/, "$1").replace(/[?&]$/, "");
    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(readJson)
      .then(function () {
        throw new Error(current.button.dataset.failedLabel || "This part could not be played.");
      })
      .catch(function (err) {
        if (session !== current) return;
        showError(current.message, err.message);
        stop();
      });
  }

  function start(button) {
    stop();
    var message = button.closest(".message");
    var current = { button: button, message: message, audios: [], index: 0, stopped: false };
    session = current;
    var box = errorBox(message);
    if (box) box.hidden = true;
    setState(button, message, "loading");
    post(button.dataset.speechUrl, {})
      .then(function (plan) {
        if (session !== current) return;
        current.audios = plan.parts.map(function (part) {
          return partAudio(current, part);
        });
        playPart(current, 0);
      })
      .catch(function (err) {
        if (session !== current) return;
        showError(message, err.message);
        stop();
      });
  }

  /* ---------- auto-play of new replies ---------- */

  function autoplayOn() {
    var settings = document.getElementById("speech-settings");
    return !!settings && settings.dataset.autoplay === "true";
  }

  // A reply's final frame swaps its article (streaming -> complete) out of band: read it then.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail && event.detail.fragment;
    if (!fragment || !fragment.children || !autoplayOn()) return;
    Array.prototype.forEach.call(fragment.children, function (el) {
      if (!(el instanceof Element) || !el.matches("article.message-assistant")) return;
      if (el.getAttribute("data-message-status") !== "complete") return;
      var before = document.getElementById(el.id);
      if (!before || before.getAttribute("data-message-status") !== "streaming") return;
      window.setTimeout(function () {
        var now = document.getElementById(el.id);
        var button = now && now.querySelector(".speak-btn");
        if (button && document.visibilityState === "visible") start(button);
      }, 0);
    });
  });

  /* ---------- Settings: play a sample ---------- */

  var sample = null;

  function playSample(button) {
    var form = button.closest("form");
    var voice = form && form.querySelector("[name=speech_voice]");
    var speed = form && form.querySelector("[name=speech_speed]");
    var box = document.getElementById("speech-sample-error");
    if (box) box.hidden = true;
    if (sample) sample.pause();
    button.setAttribute("data-speech-state", "loading");
    post(button.dataset.sampleUrl, {
      voice: voice ? voice.value : "",
      speed: speed ? speed.value : "",
    })
      .then(function (data) {
        sample = new Audio(data.url);
        sample.addEventListener("playing", function () {
          button.setAttribute("data-speech-state", "playing");
        });
        sample.addEventListener("ended", function () {
          button.setAttribute("data-speech-state", "idle");
        });
        sample.addEventListener("error", function () {
          window
            .fetch(data.url.replace(/([?&])t=[^&]*/, "$1"), { credentials: "same-origin" })
            .then(readJson)
            .catch(function (err) {
              sampleError(button, box, err.message);
            });
        });
        return sample.play();
      })
      .catch(function (err) {
        sampleError(button, box, err.message);
      });
  }

  function sampleError(button, box, text) {
    button.setAttribute("data-speech-state", "idle");
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var button = target.closest(".speak-btn");
    if (button) {
      if (session && session.button === button) stop();
      else start(button);
      return;
    }
    var sampleButton = target.closest("#speech-sample");
    if (sampleButton) playSample(sampleButton);
  });

  // A reply swapped away (a new version, the thread replaced) stops being read.
  document.addEventListener("htmx:afterSettle", function () {
    if (session && session.button && !session.button.isConnected) stop();
  });
})();
