/* Voice input in the composer (templates/chat/_voice.html; settings and texts in #voice-config).

   "Record voice" records with MediaRecorder (WebM/Opus where the browser can, else MP4, as
   iOS Safari does), shows the elapsed time and the input level, and on Stop uploads the
   recording (voice:upload), which the server names from its bytes and transcribes; the text
   goes into the composer to edit, and the recording's id goes with the next send
   (`attachments` in the socket frame). Cancel (or Esc while recording) throws it away.
   An optional auto-send (Settings) counts down visibly; any key cancels it.
   In the "Translate audio" mode a file input uploads an audio file for /translate.
   Plain script, no inline code (CSP). The composer is re-rendered by the server, so
   elements are looked up each time, never kept. */
(function () {
  "use strict";

  var MIME_TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/mp4", "audio/ogg;codecs=opus"];
  var TRANSLATE_MODE = "translate";

  var state = {
    recorder: null,
    stream: null,
    chunks: [],
    cancelled: false,
    started: 0,
    timer: null,
    audioContext: null,
    analyser: null,
    frame: null,
    pending: [], // attachment ids that go with the next send
    attachedText: "",
    countdown: null,
    busy: false,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function config() {
    return $("voice-config");
  }

  function label(name, values) {
    var el = config();
    var text = (el && el.getAttribute("data-label-" + name)) || "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("%(" + key + ")s").join(values[key]);
    });
    return text;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function setStatus(text) {
    var status = $("voice-status");
    if (status) status.textContent = text || "";
  }

  function formatTime(ms) {
    var seconds = Math.max(0, Math.floor(ms / 1000));
    var minutes = Math.floor(seconds / 60);
    seconds = seconds % 60;
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
  }

  function recording() {
    return !!state.recorder;
  }

  /* Show the state in the (possibly new) composer. */
  function render() {
    var record = $("voice-record");
    var panel = $("voice-panel");
    if (!panel) return;
    if (record) {  // absent where the gateway does not transcribe (translation may remain)
      record.hidden = recording();
      record.disabled = state.busy;
    }
    panel.hidden = !recording();
    var attached = $("voice-attached");
    if (attached) {
      attached.hidden = !state.pending.length;
      $("voice-attached-text").textContent = state.attachedText;
    }
    var cancelSend = $("voice-autosend-cancel");
    if (cancelSend) cancelSend.hidden = !state.countdown;
    var mode = $("composer-mode");
    var translating = !!mode && mode.value === TRANSLATE_MODE;
    var field = $("voice-file-field");
    if (field) field.hidden = !translating;
    var area = $("composer-text");
    // A translation needs no text: the file is the message.
    if (area) area.required = !translating;
  }

  /* ---------- recording ---------- */

  function chooseMimeType() {
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported) return "";
    for (var i = 0; i < MIME_TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported(MIME_TYPES[i])) return MIME_TYPES[i];
    }
    return "";
  }

  function startRecording() {
    if (recording() || state.busy) return;
    cancelCountdown(false);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      setStatus(label("unsupported"));
      return;
    }
    state.busy = true;
    render();
    navigator.mediaDevices
      .getUserMedia({ audio: true })
      .then(function (stream) {
        state.busy = false;
        var mimeType = chooseMimeType();
        var recorder;
        try {
          recorder = mimeType ? new MediaRecorder(stream, { mimeType: mimeType }) : new MediaRecorder(stream);
        } catch (e) {
          stream.getTracks().forEach(function (t) { t.stop(); });
          setStatus(label("unsupported"));
          render();
          return;
        }
        state.stream = stream;
        state.recorder = recorder;
        state.chunks = [];
        state.cancelled = false;
        state.started = Date.now();
        recorder.addEventListener("dataavailable", function (event) {
          if (event.data && event.data.size) state.chunks.push(event.data);
        });
        recorder.addEventListener("stop", onRecorderStop);
        recorder.start(250);
        state.timer = window.setInterval(tick, 250);
        startMeter(stream);
        setStatus(label("recording"));
        tick();
        render();
        var stop = $("voice-stop");
        if (stop) stop.focus();
      })
      .catch(function () {
        state.busy = false;
        setStatus(label("no-mic"));
        render();
      });
  }

  function tick() {
    var elapsed = $("voice-elapsed");
    if (elapsed && state.recorder) elapsed.textContent = formatTime(Date.now() - state.started);
  }

  function startMeter(stream) {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      state.audioContext = new Context();
      var source = state.audioContext.createMediaStreamSource(stream);
      state.analyser = state.audioContext.createAnalyser();
      state.analyser.fftSize = 1024;
      source.connect(state.analyser);
    } catch (e) {
      state.analyser = null;
      return;
    }
    var samples = new Float32Array(state.analyser.fftSize);
    var draw = function () {
      if (!state.analyser) return;
      state.analyser.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
      var level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      var meter = $("voice-level");
      if (meter) meter.value = level;
      state.frame = window.requestAnimationFrame(draw);
    };
    draw();
  }

  function teardown() {
    if (state.timer) window.clearInterval(state.timer);
    if (state.frame) window.cancelAnimationFrame(state.frame);
    if (state.stream) state.stream.getTracks().forEach(function (t) { t.stop(); });
    if (state.audioContext) state.audioContext.close().catch(function () {});
    state.timer = state.frame = state.stream = state.audioContext = state.analyser = null;
  }

  function stopRecording(cancel) {
    if (!state.recorder) return;
    state.cancelled = !!cancel;
    if (state.recorder.state !== "inactive") state.recorder.stop();
    else onRecorderStop();
  }

  function onRecorderStop() {
    var recorder = state.recorder;
    var type = (recorder && recorder.mimeType) || "audio/webm";
    var blob = new Blob(state.chunks, { type: type });
    var seconds = (Date.now() - state.started) / 1000;
    state.recorder = null;
    state.chunks = [];
    teardown();
    if (state.cancelled) {
      setStatus("");
      render();
      var record = $("voice-record");
      if (record) record.focus();
      return;
    }
    render();
    if (!blob.size) {  // the microphone delivered nothing: say so, upload nothing
      setStatus(label("empty"));
      return;
    }
    // The name is only shown; the server reads the format from the bytes.
    var name = "recording." + (type.indexOf("mp4") >= 0 ? "m4a" : type.indexOf("ogg") >= 0 ? "ogg" : "webm");
    upload(blob, name, "transcribe", seconds);
  }

  /* ---------- upload ---------- */

  function upload(blob, name, purpose, seconds) {
    var cfg = config();
    if (!cfg) return;
    var body = new FormData();
    body.append("audio", blob, name);
    body.append("purpose", purpose);
    state.busy = true;
    setStatus(label(purpose === "translate" ? "uploading" : "transcribing"));
    render();
    fetch(cfg.getAttribute("data-upload-url"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () { return {}; })
          .then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        state.busy = false;
        var data = result.data || {};
        if (data.id) {
          state.pending = [data.id];
          state.attachedText =
            purpose === "translate"
              ? label("file-attached", { name: data.name || name })
              : label("attached", { time: formatTime((data.seconds || seconds) * 1000) });
        }
        if (purpose === "transcribe" && data.text) putInComposer(data.text);
        if (!result.ok) setStatus(data.error || label("failed"));
        else if (purpose === "transcribe" && !data.text) setStatus(label("empty"));
        else setStatus("");
        render();
        if (result.ok && purpose === "transcribe" && data.text) maybeAutoSend();
      })
      .catch(function () {
        state.busy = false;
        setStatus(label("failed"));
        render();
      });
  }

  function putInComposer(text) {
    var area = $("composer-text");
    if (!area) return;
    var before = area.value.replace(/\s+$/, "");
    area.value = before ? before + " " + text : text;
    area.dispatchEvent(new Event("input", { bubbles: true }));
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  /* ---------- auto-send ---------- */

  function maybeAutoSend() {
    var cfg = config();
    var seconds = cfg ? parseInt(cfg.getAttribute("data-send-after") || "0", 10) : 0;
    if (!(seconds > 0)) return;
    var left = seconds;
    setStatus(label("autosend", { seconds: left }));
    state.countdown = window.setInterval(function () {
      left -= 1;
      if (left > 0) {
        setStatus(label("autosend", { seconds: left }));
        return;
      }
      cancelCountdown(false);
      setStatus("");
      var form = $("composer");
      var send = $("composer-send");
      if (form && send && !send.disabled && form.requestSubmit) form.requestSubmit(send);
    }, 1000);
    render();
  }

  function cancelCountdown(announce) {
    if (!state.countdown) return false;
    window.clearInterval(state.countdown);
    state.countdown = null;
    if (announce) setStatus(label("autosend-cancelled"));
    render();
    return true;
  }

  /* ---------- wiring ---------- */

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.closest("#voice-record")) startRecording();
    else if (target.closest("#voice-stop")) stopRecording(false);
    else if (target.closest("#voice-cancel")) stopRecording(true);
    else if (target.closest("#voice-autosend-cancel")) {
      cancelCountdown(true);
      var area = $("composer-text");
      if (area) area.focus();
    } else if (target.closest("#voice-remove")) {
      state.pending = [];
      state.attachedText = "";
      var file = $("voice-file");
      if (file) file.value = "";
      render();
    }
  });

  // Any key cancels a pending auto-send (before anything else sees the key).
  document.addEventListener(
    "keydown",
    function (event) {
      if (state.countdown) {
        cancelCountdown(true);
        return;
      }
      if (event.key === "Escape" && recording()) {
        event.preventDefault();
        event.stopPropagation();
        stopRecording(true);
      }
    },
    true
  );

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.id === "composer-mode") render();
    if (target.id === "voice-file" && target.files && target.files[0]) {
      var file = target.files[0];
      upload(file, file.name, "translate", 0);
    }
  });

  // The recording goes with the next send of the composer.
  document.addEventListener("htmx:wsConfigSend", function (event) {
    var elt = event.detail && event.detail.elt ? event.detail.elt : event.target;
    if (!(elt instanceof Element) || elt.id !== "composer" || !state.pending.length) return;
    var params = event.detail.parameters;
    var mode = params.mode;
    if (mode === TRANSLATE_MODE) setStatus(label("translating"));
    var existing = params.attachments;
    var ids = existing === undefined ? [] : [].concat(existing);
    params.attachments = ids.concat(state.pending);
  });

  // The server re-renders the composer: empty after a send (the recording went with it),
  // with the text kept after a refusal (the recording waits for the next send).
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!(target instanceof Element) || target.id !== "composer") return;
    var area = $("composer-text");
    if (area && !area.value.trim()) {
      state.pending = [];
      state.attachedText = "";
      cancelCountdown(false);
    }
    render();
  });

  document.addEventListener("DOMContentLoaded", render);
  if (document.readyState !== "loading") render();
})();
