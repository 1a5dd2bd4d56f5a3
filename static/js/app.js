/* Parlor front end: the few behaviours htmx cannot express.
   Loaded (without defer) from <head> so the saved theme applies before first paint;
   everything that touches the page waits for DOMContentLoaded. Strings come from data-*
   attributes rendered by the templates; nothing here builds HTML from text. */
(function () {
  "use strict";

  var root = document.documentElement;
  var THEME_KEY = "parlor-theme";
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  var prefersDark = window.matchMedia("(prefers-color-scheme: dark)");

  /* ---------- theme (runs immediately) ---------- */
  function storedTheme() {
    // Signed in: the theme saved in the user's settings, rendered by the server, wins.
    var saved = root.getAttribute("data-theme-saved");
    if (saved !== null) return saved === "dark" || saved === "light" ? saved : null;
    try {
      var value = localStorage.getItem(THEME_KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (e) {
      return null;
    }
  }

  function effectiveTheme() {
    return storedTheme() || (prefersDark.matches ? "dark" : "light");
  }

  function applyTheme() {
    var theme = storedTheme();
    if (theme) {
      root.setAttribute("data-theme", theme);
    } else {
      root.removeAttribute("data-theme");
    }
    var dark = effectiveTheme() === "dark";
    document.querySelectorAll(".theme-toggle").forEach(function (btn) {
      btn.setAttribute("aria-pressed", dark ? "true" : "false");
    });
  }

  root.classList.add("js");
  applyTheme();

  /* ---------- submissions before htmx is ready (runs immediately) ----------
     htmx and its ws extension are deferred. A form sent in the moment between the page
     being parsed and htmx processing it would go out as a plain GET: the message would
     land in the address bar and never be sent. Such a submission is held and sent again,
     through htmx, as soon as htmx has processed the page. */
  var HTMX_FORM = "form[ws-send], form[hx-post], form[hx-get], form[hx-put], form[hx-patch], form[hx-delete]";
  var htmxReady = false;
  var heldSubmit = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (htmxReady || !(form instanceof HTMLFormElement) || !form.matches(HTMX_FORM)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    heldSubmit = { form: form, submitter: event.submitter || null };
  }, true);

  document.addEventListener("htmx:load", function (event) {
    if (htmxReady || event.target !== document.body) return;
    htmxReady = true;
    var held = heldSubmit;
    heldSubmit = null;
    if (!held || !held.form.isConnected) return;
    var submitter = held.submitter && held.submitter.isConnected ? held.submitter : null;
    // After the other load handlers: the ws extension has bound the form by now.
    setTimeout(function () { held.form.requestSubmit(submitter); }, 0);
  });

  function toggleTheme() {
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    if (root.hasAttribute("data-theme-saved")) {
      saveTheme(next === (prefersDark.matches ? "dark" : "light") ? "system" : next);
      return;
    }
    try {
      // Choosing what the OS already prefers means "follow the OS" again.
      if (next === (prefersDark.matches ? "dark" : "light")) {
        localStorage.removeItem(THEME_KEY);
      } else {
        localStorage.setItem(THEME_KEY, next);
      }
    } catch (e) {
      root.setAttribute("data-theme", next);
      return;
    }
    applyTheme();
  }

  /* The signed-in user's theme: shown at once, then saved to their settings. */
  function saveTheme(theme) {
    root.setAttribute("data-theme-saved", theme);
    applyTheme();
    var url = root.getAttribute("data-theme-url");
    var token = "";
    try {
      token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      token = "";
    }
    if (!url || !window.fetch) return;
    var body = new URLSearchParams();
    body.set("theme", theme);
    window.fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token },
      keepalive: true,  // a page left at once (a reload, a link) still sends the save
    }).catch(function () {});
  }

  prefersDark.addEventListener("change", applyTheme);

  /* ---------- helpers ---------- */
  function label(el, name, fallback) {
    var own = el && el.dataset ? el.dataset[name] : undefined;
    if (own) return own;
    var body = document.body;
    return (body && body.dataset[name]) || fallback;
  }

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  function scroller() {
    return document.getElementById("main") || document.scrollingElement;
  }

  /* `scope` itself when it matches, then its descendants that do. */
  function within(scope, selector, fn) {
    if (scope.matches && scope.matches(selector)) fn(scope);
    scope.querySelectorAll(selector).forEach(fn);
  }

  /* ---------- 1. copy buttons ---------- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      area.remove();
      if (ok) resolve();
      else reject(new Error("copy failed"));
    });
  }

  function copySource(btn) {
    var selector = btn.getAttribute("data-copy-target");
    if (selector) {
      try {
        return document.querySelector(selector);
      } catch (e) {
        return null;
      }
    }
    var block = btn.closest(".codeblock");
    return block && (block.querySelector("pre code") || block.querySelector("pre"));
  }

  function flashButton(btn, text) {
    if (!btn.dataset.originalLabel) btn.dataset.originalLabel = btn.textContent;
    window.clearTimeout(Number(btn.dataset.resetTimer || 0));
    btn.textContent = text;
    btn.classList.add("is-copied");
    btn.dataset.resetTimer = String(
      window.setTimeout(function () {
        btn.textContent = btn.dataset.originalLabel;
        btn.classList.remove("is-copied");
        delete btn.dataset.originalLabel;
      }, 1600)
    );
  }

  function onCopyClick(btn) {
    var source = copySource(btn);
    if (!source) return;
    // A message's Copy copies what was written (its markdown, kept in a <template>), a code
    // block's its code.
    var text =
      source.tagName === "TEMPLATE"
        ? source.content.textContent
        : source.closest(".codeblock")
          ? source.textContent
          : source.innerText;
    copyText(text.replace(/\n+$/, "")).then(
      function () {
        var done = label(btn, "copiedLabel", "Copied");
        flashButton(btn, done);
        announce(done);
      },
      function () {
        flashButton(btn, label(btn, "copyFailedLabel", "Copy failed"));
      }
    );
  }

  function addCodeCopyButtons(scope) {
    within(scope, ".codeblock", function (block) {
      if (block.querySelector(":scope > .copy-btn")) return;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "copy-btn";
      btn.textContent = label(null, "copyCodeLabel", "Copy code");
      block.insertBefore(btn, block.firstChild);
    });
  }

  /* ---------- message actions: edit in place, Details ---------- */
  function messageOf(el) {
    return el.closest(".message");
  }

  function setEditing(message, editing, focusBack) {
    var form = message.querySelector(".edit-form");
    var body = message.querySelector(".message-body");
    var btn = message.querySelector(".edit-btn");
    if (!form || !body) return;
    if (editing) {
      form.dataset.original = form.querySelector("textarea").value;
    } else if (form.dataset.original !== undefined) {
      form.querySelector("textarea").value = form.dataset.original; // Cancel restores it
    }
    form.hidden = !editing;
    body.hidden = editing;
    message.classList.toggle("is-editing", editing);
    if (btn) btn.setAttribute("aria-expanded", editing ? "true" : "false");
    if (editing) {
      var area = form.querySelector("textarea");
      autosize(area);
      area.focus();
    } else if (focusBack && btn) {
      btn.focus();
    }
  }

  function onMessageActionClick(target) {
    var edit = target.closest(".edit-btn");
    if (edit) {
      var message = messageOf(edit);
      if (message) setEditing(message, !message.classList.contains("is-editing"), true);
      return true;
    }
    var cancel = target.closest(".edit-cancel");
    if (cancel) {
      if (messageOf(cancel)) setEditing(messageOf(cancel), false, true);
      return true;
    }
    var details = target.closest(".details-btn");
    if (details) {
      toggleDetails(details);
      return true;
    }
    return false;
  }

  function toggleDetails(btn) {
    var panel = document.getElementById(btn.getAttribute("aria-controls"));
    if (!panel) return;
    panel.hidden = !panel.hidden;
    btn.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
    if (!panel.hidden) panel.scrollIntoView({ block: "nearest" });
  }

  function onEditKeydown(event) {
    var form = event.target.closest(".edit-form");
    if (event.key === "Escape" && form && messageOf(form)) {
      event.preventDefault();
      event.stopPropagation();
      setEditing(messageOf(form), false, true);
      return true;
    }
    return false;
  }

  /* ---------- 2. KaTeX ---------- */
  /* A streaming reply's complete blocks arrive rendered, appended to #message-<pk>-blocks:
     each frame's new blocks are the swapped elements, so each is typeset (and each code block
     gets its copy button) once, as it arrives; the tail (.streaming) is plain text. */
  function renderMath(scope) {
    if (!window.katex) return;
    within(scope, ".math.math-inline, .math.math-display", function (el) {
      if (el.dataset.mathRendered || el.closest(".streaming")) return;
      var tex = el.textContent;
      try {
        window.katex.render(tex, el, {
          displayMode: el.classList.contains("math-display"),
          throwOnError: false,
        });
        el.dataset.mathRendered = "1";
      } catch (e) {
        el.dataset.mathRendered = "error";
      }
    });
  }

  /* ---------- 3. composer ---------- */
  var coarsePointer = window.matchMedia("(pointer: coarse)");

  function autosize(area) {
    if (!area) return;
    if (!area.dataset.autosized) {
      // Start at one line and grow with the text (the markup's rows= serves no-JS visitors).
      area.dataset.autosized = "1";
      area.rows = 1;
    }
    area.style.height = "auto";
    var max = Math.round(window.innerHeight * 0.4);
    area.style.height = Math.min(area.scrollHeight + 2, max) + "px";
  }

  function onComposerKeydown(event) {
    var area = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (event.isComposing || event.keyCode === 229) return;
    // On phones Enter inserts a newline; the Send button sends.
    if (coarsePointer.matches) return;
    event.preventDefault();
    var form = area.form;
    if (!form || !area.value.trim()) return;
    var send = form.querySelector('[type="submit"]');
    if (send && send.disabled) return;
    wantComposerFocus = true;
    if (form.requestSubmit) form.requestSubmit(send || undefined);
    else if (send) send.click();
  }

  /* After a send the server replaces the composer; keep the caret in the new one. */
  var wantComposerFocus = false;

  function restoreComposerFocus() {
    var area = document.getElementById("composer-text");
    if (!area) return;
    autosize(area);
    var active = document.activeElement;
    var lost = !active || active === document.body || !document.contains(active);
    if (wantComposerFocus && lost) {
      area.focus({ preventScroll: true });
      var end = area.value.length;
      try {
        area.setSelectionRange(end, end);
      } catch (e) {
        /* ignore */
      }
    }
  }

  /* ---------- 4. autoscroll + "Jump to latest" ---------- */
  var pinned = true;
  var BOTTOM_SLACK = 80;

  function distanceFromBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight;
  }

  function scrollToBottom(smooth) {
    var el = scroller();
    if (!el) return;
    el.scrollTo({
      top: el.scrollHeight,
      behavior: smooth && !reducedMotion.matches ? "smooth" : "auto",
    });
  }

  function updateJumpButton() {
    var btn = document.getElementById("jump-latest");
    if (!btn) return;
    var el = scroller();
    var show = !!document.getElementById("thread") && el && distanceFromBottom(el) > BOTTOM_SLACK;
    btn.hidden = !show;
    if (!show) return;
    // At the right of the thread's column, in the margin when there is one: never over the
    // middle of the thread, where a card's buttons are (CSS anchors it by its right edge).
    var main = document.getElementById("main");
    var composer = document.getElementById("composer");
    var thread = document.getElementById("thread");
    if (main) {
      var rect = main.getBoundingClientRect();
      var right = rect.right - 16;
      if (thread) {
        var column = thread.getBoundingClientRect();
        if (rect.right - column.right >= btn.offsetWidth + 32) right = column.right + 16 + btn.offsetWidth;
      }
      btn.style.left = Math.min(right, rect.right - 16) + "px";
    }
    var bottom = 24;
    if (composer) {
      bottom = window.innerHeight - composer.getBoundingClientRect().top + 12;
    }
    btn.style.bottom = Math.max(bottom, 16) + "px";
  }

  function onScroll() {
    var el = scroller();
    pinned = distanceFromBottom(el) <= BOTTOM_SLACK;
    updateJumpButton();
  }

  /* ---------- 4b. media job cards in the page (docs/media-ui.md, "Live updates") ----------
     Pushes put a signal into the hidden #live-updates (media_jobs.live): refresh a card the
     page shows, or show a new one where it belongs. A card is fetched with the tab's own
     session (media_jobs:card); signals for one card coalesce into one fetch at a time. */
  var cardFetches = {};

  function cardHome(signal) {
    var thread = document.getElementById("thread");
    if (thread) {
      // In a conversation: only its own jobs, at the end of the thread (the time they start).
      return thread.dataset.conversation && thread.dataset.conversation === signal.dataset.conversation
        ? { container: thread, first: false }
        : null;
    }
    var list = document.querySelector("[data-job-cards]");
    if (!list) return null;
    if (list.dataset.parent && list.dataset.parent !== signal.dataset.parent) return null;
    return { container: list, first: list.dataset.jobCards === "start" };
  }

  function placeholderFor(id, home) {
    var holder = document.createElement("div");
    holder.id = id;
    home.container.querySelectorAll(":scope > .job-empty").forEach(function (el) {
      el.remove();
    });
    if (home.first) home.container.insertBefore(holder, home.container.firstChild);
    else home.container.appendChild(holder);
    return holder;
  }

  // A push reaches a tab once per group it is in (conversation, user, team): the signals of
  // one change arrive together and make one fetch; one that arrives while the card loads
  // makes one more after it.
  function fetchCard(id, url) {
    var state = cardFetches[id];
    if (state) {
      if (state.loading) state.again = true;
      return;
    }
    cardFetches[id] = { loading: false, again: false };
    setTimeout(function () {
      loadCard(id, url);
    }, 50);
  }

  function loadCard(id, url) {
    var target = document.getElementById(id);
    if (!target || !window.htmx) {
      delete cardFetches[id];
      return;
    }
    cardFetches[id].loading = true;
    window.htmx
      .ajax("GET", url, { target: target, swap: "outerHTML" })
      .catch(function () {})
      .then(function () {
        restoreFocus(id);
        var again = cardFetches[id] && cardFetches[id].again;
        delete cardFetches[id];
        if (again) fetchCard(id, url);
      });
  }

  // A refreshed card replaces the one that had the keyboard focus (a push while the user
  // tabs through its buttons): the focus goes to the same control in the new card, or to
  // its first control when that one is gone (Cancel, once the job is done), never to the
  // top of the page. htmx itself keeps a focused element that has an id (a tile's link).
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, audio, video, [tabindex]";
  var keptFocus = {};

  function controlKey(el) {
    return [el.tagName, el.getAttribute("name") || "", el.getAttribute("value") || "",
      el.getAttribute("href") || "", el.getAttribute("aria-label") || "", el.textContent.trim()].join("|");
  }

  function noteFocus(target) {
    var active = document.activeElement;
    if (active && active !== document.body && target.contains(active)) {
      keptFocus[target.id] = controlKey(active);
    }
  }

  function restoreFocus(id) {
    var key = keptFocus[id];
    delete keptFocus[id];
    var active = document.activeElement;
    if (key === undefined || (active && active !== document.body)) return; // kept, or moved on
    var card = document.getElementById(id);
    if (!card) return;
    var controls = Array.prototype.slice.call(card.querySelectorAll(FOCUSABLE));
    var same = controls.filter(function (el) { return controlKey(el) === key; })[0];
    var control = same || controls[0];
    if (control) control.focus({ preventScroll: true });
  }

  // The Studio's gallery shows tiles (id "tile-<hex>", refetched from media_jobs:tile), not
  // cards; the same signals refresh them, and a new job's tile goes first in the grid.
  function tileUrl(cardUrl) {
    return cardUrl.replace(/card\/$/, "tile/");
  }

  function refreshTile(hex, url, added) {
    var id = "tile-" + hex;
    if (!document.getElementById(id)) {
      var grid = document.querySelector("[data-job-tiles]");
      if (!added || !grid || grid.dataset.jobTiles !== "start") return;
      placeholderFor(id, { container: grid, first: true });
    } else if (added) {
      return;
    }
    fetchCard(id, tileUrl(url));
  }

  function readSignals(box) {
    Array.prototype.slice.call(box.children).forEach(function (signal) {
      signal.remove();
      var hex = signal.dataset.jobAdded || signal.dataset.jobChanged;
      var url = signal.dataset.cardUrl;
      if (!hex || !url) return;
      refreshTile(hex, url, !!signal.dataset.jobAdded);
      var id = "job-" + hex;
      if (!document.getElementById(id)) {
        if (!signal.dataset.jobAdded) return; // a card this page does not show
        var home = cardHome(signal);
        if (!home) return;
        placeholderFor(id, home);
      } else if (signal.dataset.jobAdded) {
        return; // already shown (the answer to this tab's own press or command)
      }
      fetchCard(id, url);
    });
  }

  // The answer to a press (a form with data-job-press): the new job's card, put where a new
  // card goes on this page unless the live push put it there first.
  function placePressed(event) {
    var form = event.detail.elt;
    var xhr = event.detail.xhr;
    if (!(form instanceof Element) || !form.closest("[data-job-press]")) return;
    if (!xhr || xhr.status !== 201 || !window.htmx) return;
    var parsed = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var card = parsed.querySelector(".job-card[id]");
    if (!card) return;
    var thread = document.getElementById("thread");
    var list = document.querySelector("[data-job-cards]");
    var titleLink = card.querySelector(".job-title a[href]");
    if (!thread && !list && titleLink) {
      // The gallery (a press in its lightbox): the child's tile goes first in the grid.
      refreshTile(card.id.slice(4), titleLink.getAttribute("href") + "card/", true);
      return;
    }
    if (!document.getElementById(card.id)) {
      var home = thread
        ? { container: thread, first: false }
        : list
          ? { container: list, first: list.dataset.jobCards === "start" }
          : null;
      if (!home) return;
      // htmx.swap processes the card and fires htmx:afterSwap (enhancing, autoscroll).
      window.htmx.swap(placeholderFor(card.id, home), xhr.responseText, { swapStyle: "outerHTML" });
    }
    // The presser follows their new card at the end of the thread as it is drawn.
    var placed = document.getElementById(card.id);
    if (thread && placed && placed.parentElement === thread) {
      pinned = true;
      scrollToBottom(true);
    }
  }

  // "from <parent>": to the parent's card when the page shows it, else to its page.
  function onParentLink(target, event) {
    var link = target.closest("a[data-job-parent]");
    if (!link) return false;
    var card = document.getElementById(link.dataset.jobParent);
    if (!card) return false;
    event.preventDefault();
    // At once, not smoothly: on the way up the reader would still count as at the bottom and
    // a picture loading meanwhile would pull them back down.
    pinned = false;
    card.scrollIntoView({ block: "start", behavior: "auto" });
    card.focus({ preventScroll: true });
    return true;
  }

  /* ---------- 5. stop button / send button ----------
     The server decides: its frames carry #composer-send (disabled while a reply streams)
     and #stop-form (hidden when none does); see docs/chat-contract.md. The composer's
     aria-busy only mirrors the button the server sent. */
  function mirrorBusy() {
    var composer = document.getElementById("composer");
    var send = document.getElementById("composer-send");
    if (composer && send) composer.setAttribute("aria-busy", send.disabled ? "true" : "false");
  }

  /* ---------- 6. sidebar, menu, connection state ---------- */
  function sidebarParts() {
    var layout = document.querySelector(".layout");
    var sidebar = layout && layout.querySelector(".sidebar");
    var toggle = document.getElementById("sidebar-toggle");
    return { layout: layout, sidebar: sidebar, toggle: toggle };
  }

  function setupSidebarToggle() {
    var parts = sidebarParts();
    if (!parts.toggle) return;
    if (!parts.sidebar) {
      parts.toggle.hidden = true;
      return;
    }
    if (!parts.sidebar.id) parts.sidebar.id = "sidebar";
    parts.toggle.setAttribute("aria-controls", parts.sidebar.id);
    parts.toggle.hidden = false;
  }

  // The drawer and the menu become visible through CSS (visibility), which may land a
  // frame or two later; retry briefly until the element takes focus.
  function focusSoon(el, tries) {
    el.focus({ preventScroll: true });
    if (document.activeElement !== el && (tries || 0) < 10) {
      window.setTimeout(function () {
        focusSoon(el, (tries || 0) + 1);
      }, 30);
    }
  }

  function setSidebarOpen(open, focusBack) {
    var parts = sidebarParts();
    if (!parts.layout || !parts.sidebar || !parts.toggle) return;
    parts.layout.classList.toggle("sidebar-open", open);
    parts.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var current =
        parts.sidebar.querySelector('a[aria-current="page"]') ||
        parts.sidebar.querySelector("a, button, input, select, textarea");
      if (current) focusSoon(current);
    } else if (focusBack) {
      parts.toggle.focus();
    }
  }

  function isOpen(id) {
    var toggle = document.getElementById(id);
    return !!toggle && toggle.getAttribute("aria-expanded") === "true";
  }

  function setWsStatus(state) {
    var el = document.getElementById("ws-status");
    if (!el) return;
    el.hidden = false;
    el.dataset.state = state;
    el.textContent =
      state === "open"
        ? label(el, "wsConnectedLabel", "Connected")
        : label(el, "wsReconnectingLabel", "Reconnecting…");
  }

  /* ---------- 7. chrome: user menu, switches, title, home composer ---------- */
  function closeUserMenu(focusBack) {
    var menu = document.getElementById("user-menu");
    if (!menu || !menu.open) return false;
    menu.open = false;
    if (focusBack) {
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    }
    return true;
  }

  function closeUserMenuUnless(target) {
    if (!target.closest("#user-menu")) closeUserMenu(false);
  }

  /* Language and team switches apply on change (their <noscript> button serves no-JS visitors). */
  function autosubmit(el) {
    if (!(el instanceof HTMLSelectElement)) return;
    var form = el.closest("form[data-autosubmit]");
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  function followTitle(heading) {
    var text = heading.textContent.trim();
    if (text) document.title = text + " · Parlor";
  }

  function useStarterPrompt(btn) {
    var area = document.getElementById("composer-text");
    if (!area) return;
    area.value = btn.getAttribute("data-prompt") || btn.textContent.trim();
    autosize(area);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  /* The text sent from the home page waits in the composer until the socket opens; send it once. */
  function sendPendingMessage() {
    var chat = document.querySelector(".chat[data-autosend]");
    if (!chat) return;
    chat.removeAttribute("data-autosend");
    var form = document.getElementById("composer");
    var area = document.getElementById("composer-text");
    if (!form || !area || !area.value.trim()) return;
    wantComposerFocus = true;
    if (form.requestSubmit) form.requestSubmit();
  }

  /* ---------- 8. keyboard shortcuts ---------- */
  function isTyping(el) {
    if (!(el instanceof Element)) return false;
    return !!el.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  function stopReply() {
    var stop = document.getElementById("stop-form");
    if (!stop || stop.hidden) return false;
    if (stop.requestSubmit) stop.requestSubmit();
    return true;
  }

  function openNewChat() {
    var form = document.querySelector(".new-chat-form, .topbar-new-chat");
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
    return true;
  }

  function focusSearch() {
    var search = document.getElementById("conversation-search");
    if (!search || !search.getClientRects().length) return false;
    search.focus();
    search.select();
    return true;
  }

  /* Esc in the composer stops a streaming reply; Ctrl/Cmd+Shift+O opens a new chat; `/`
     (when not typing) focuses the search. Returns whether the key was handled. */
  function onShortcut(event) {
    if (event.defaultPrevented || event.isComposing) return false;
    var target = event.target;
    var handled = false;
    if (event.key === "Escape" && target instanceof Element && target.id === "composer-text") {
      handled = stopReply();
    } else if (
      (event.ctrlKey || event.metaKey) && event.shiftKey && !event.altKey &&
      (event.key === "O" || event.key === "o")
    ) {
      handled = openNewChat();
    } else if (
      event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(target)
    ) {
      handled = focusSearch();
    }
    if (handled) event.preventDefault();
    return handled;
  }

  /* ---------- wiring ---------- */
  function enhance(scope) {
    addCodeCopyButtons(scope);
    renderMath(scope);
  }

  /* Work per swap is proportional to what was swapped, never to the page: a streamed
     frame that only appends text visits no element at all. The elements a swap inserts
     are collected as htmx swaps them and enhanced once, after the whole frame or response. */
  var swapped = [];
  var flushQueued = false;

  function noteSwapped(el) {
    if (!(el instanceof Element)) return;
    swapped.push(el);
    queueAfterSwaps();
  }

  function queueAfterSwaps() {
    if (flushQueued) return;
    flushQueued = true;
    Promise.resolve().then(afterSwaps); // once the whole frame or response is in the page
  }

  function afterSwaps() {
    flushQueued = false;
    var batch = swapped;
    swapped = [];
    var composerSwapped = false;
    var sendSwapped = false;
    var testing = root.hasAttribute("data-test-enhance");
    var visited = 0;
    batch.forEach(function (el, i) {
      if (!el.isConnected || batch.indexOf(el) !== i) return;
      // An element inside another swapped element is enhanced with it.
      for (var j = 0; j < batch.length; j++) {
        if (batch[j] !== el && batch[j].isConnected && batch[j].contains(el)) return;
      }
      enhance(el);
      if (testing) visited += el.getElementsByTagName("*").length + 1;
      if (el.id === "composer-text" || el.querySelector("#composer-text")) composerSwapped = true;
      if (el.id === "composer-send" || el.querySelector("#composer-send")) sendSwapped = true;
      if (el.querySelector(".sidebar") || el.querySelector("#sidebar-toggle")) {
        setupSidebarToggle();
      }
    });
    if (testing) {
      // Browser tests read how many elements each frame or response made the script visit.
      (window.__parlorEnhanced = window.__parlorEnhanced || []).push(visited);
    }
    if (sendSwapped) mirrorBusy();
    if (composerSwapped) restoreComposerFocus();
    if (pinned && document.getElementById("thread")) scrollToBottom(false);
    updateJumpButton();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;

    var copy = target.closest(".copy-btn");
    if (copy) {
      onCopyClick(copy);
      return;
    }
    if (onMessageActionClick(target)) return;
    if (onParentLink(target, event)) return;
    if (target.closest(".theme-toggle")) {
      toggleTheme();
      return;
    }
    if (target.closest("#sidebar-toggle")) {
      setSidebarOpen(!isOpen("sidebar-toggle"), false);
      return;
    }
    var starter = target.closest(".starter-prompt");
    if (starter) {
      useStarterPrompt(starter);
      return;
    }
    if (target.closest("#jump-latest")) {
      pinned = true;
      scrollToBottom(true);
      var area = document.getElementById("composer-text");
      if (area) area.focus({ preventScroll: true });
      return;
    }
    // Clicking outside an open drawer or menu closes it.
    if (isOpen("sidebar-toggle") && !target.closest(".sidebar")) setSidebarOpen(false, false);
    closeUserMenuUnless(target);
  });

  document.addEventListener("keydown", function (event) {
    if (event.target instanceof Element && onEditKeydown(event)) return;
    if (onShortcut(event)) return;
    if (event.key === "Escape") {
      if (closeUserMenu(true)) return;
      if (isOpen("sidebar-toggle")) setSidebarOpen(false, true);
      return;
    }
    if (event.target instanceof Element && event.target.id === "composer-text") {
      onComposerKeydown(event);
    }
  });

  document.addEventListener("change", function (event) {
    autosubmit(event.target);
  });

  document.addEventListener("input", function (event) {
    if (event.target instanceof Element && event.target.id === "composer-text") {
      autosize(event.target);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof Element && form.id === "composer") {
      wantComposerFocus = true;
      pinned = true;
    }
  });

  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el instanceof Element && el.id === "composer-text") wantComposerFocus = true;
    else if (el instanceof Element && el !== document.body) wantComposerFocus = false;
  });

  // A normal swap: fired on each element it put in the page (or on the target it filled).
  document.addEventListener("htmx:afterSwap", function (event) {
    noteSwapped(event.target);
  });
  // An out-of-band swap (every websocket frame is made of them): the nodes it inserts are
  // the fragment's children, the same nodes htmx moves into the page.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail && event.detail.fragment;
    if (!fragment || !fragment.children) return;
    Array.prototype.forEach.call(fragment.children, noteSwapped);
  });
  // Pushed signals (media_jobs.live) land in #live-updates: read and removed at once.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target instanceof Element && target.id === "live-updates") readSignals(target);
  });
  document.addEventListener("htmx:afterRequest", placePressed);
  // A card that is gone for this user (unshared, deleted) leaves the page without an error.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var xhr = event.detail.xhr;
    if (!(target instanceof Element) || !xhr) return;
    if (!(target.classList.contains("job-card") || /^(job|tile)-[0-9a-f]{32}$/.test(target.id))) {
      return;
    }
    if (cardFetches[target.id]) noteFocus(target); // a refresh (loadCard)
    if (xhr.status !== 404) return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    event.detail.serverResponse = "";
  });
  // A picture that loads (a finished grid) grows the thread: keep a pinned reader at the end.
  document.addEventListener(
    "load",
    function (event) {
      var el = event.target;
      if (pinned && el instanceof HTMLImageElement && el.closest("#thread")) scrollToBottom(false);
    },
    true
  );
  // A frame of text deltas inserts no element; it still moves the bottom of the thread.
  document.addEventListener("htmx:wsAfterMessage", queueAfterSwaps);
  // A new title arrives out of band in #conversation-title (chat.frames.title_html, or a rename).
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target instanceof Element && target.id === "conversation-title") followTitle(target);
  });
  var socketWasClosed = false;
  document.addEventListener("htmx:wsOpen", function (event) {
    setWsStatus("open");
    sendPendingMessage();
    // Back after a drop with a reply still shown as streaming: it may have ended meanwhile.
    if (socketWasClosed && document.querySelector('#thread [data-message-status="streaming"]')) {
      event.detail.socketWrapper.send(JSON.stringify({ action: "sync" }), event.detail.elt);
    }
    socketWasClosed = false;
  });
  document.addEventListener("htmx:wsClose", function () {
    setWsStatus("closed");
    socketWasClosed = true;
  });

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme();
    enhance(document);
    setupSidebarToggle();
    mirrorBusy();
    var main = scroller();
    if (main) main.addEventListener("scroll", onScroll, { passive: true });
    window.addEventListener("resize", updateJumpButton, { passive: true });
    window.matchMedia("(max-width: 768px)").addEventListener("change", function () {
      setSidebarOpen(false, false);
      closeUserMenu(false);
    });
    autosize(document.getElementById("composer-text"));
    if (document.getElementById("thread")) scrollToBottom(false);
    updateJumpButton();
  });

  // KaTeX is deferred and may finish after DOMContentLoaded handlers on slow loads.
  window.addEventListener("load", function () {
    renderMath(document);
  });
})();

/* ---------- feedback on replies (chat.feedback): the note form, and focus kept on the thumbs ----------
   The thumbs are redrawn by a websocket frame that replaces them: the thumb (or the note's Save)
   that was used gets the focus back, so a keyboard user stays where they were. */
(function () {
  "use strict";
  var refocus = null;

  function setNoteOpen(button, open) {
    var form = document.getElementById(button.getAttribute("aria-controls"));
    if (!form) return;
    form.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) form.querySelector("textarea").focus();
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".feedback-note-btn");
    if (toggle) {
      setNoteOpen(toggle, toggle.getAttribute("aria-expanded") !== "true");
      return;
    }
    var close = event.target.closest(".feedback-note-close");
    if (close) {
      var box = close.closest(".feedback");
      var button = box && box.querySelector(".feedback-note-btn");
      if (button) {
        setNoteOpen(button, false);
        button.focus();
      }
    }
  });

  // Esc in the note closes it, as Cancel does for an edit, and gives the focus back.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) return;
    var form = event.target.closest(".feedback-note");
    var box = form && form.closest(".feedback");
    var button = box && box.querySelector(".feedback-note-btn");
    if (!button) return;
    setNoteOpen(button, false);
    button.focus();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest(".feedback")) return;
    var thumb = form.querySelector(".feedback-btn");
    refocus = thumb ? thumb.id : form.id + "-done";
  }, true);

  document.addEventListener("htmx:wsAfterMessage", function () {
    if (!refocus) return;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var id = refocus;
    refocus = null;
    // After a saved note the form is closed: its Add/Edit button takes the focus.
    var target = document.getElementById(id.replace(/-note-done$/, "-note-btn"));
    if (target) target.focus();
  });
})();

// Sidebar folders: a folder (or the Archived section) the user closed stays closed across
// htmx swaps of the list and page loads. Details elements opt in with data-remember="<key>".
(function () {
  "use strict";
  var PREFIX = "parlor:details:";

  function restore(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("details[data-remember]").forEach(function (details) {
      var saved;
      try {
        saved = window.localStorage.getItem(PREFIX + details.getAttribute("data-remember"));
      } catch (e) {
        return;
      }
      if (saved === "open") details.open = true;
      else if (saved === "closed") details.open = false;
    });
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (!(details instanceof HTMLDetailsElement) || !details.hasAttribute("data-remember")) return;
      try {
        window.localStorage.setItem(
          PREFIX + details.getAttribute("data-remember"),
          details.open ? "open" : "closed"
        );
      } catch (e) {
        /* storage off: the default state it is */
      }
    },
    true
  );
  document.addEventListener("DOMContentLoaded", function () {
    restore(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    restore(event.detail && event.detail.elt ? event.detail.elt.parentNode || document : document);
  });
})();

/* ---------- job cards' dialogs (Vary (Region), Custom Zoom, Remix, ...) ----------
   Here, not in the deferred mask.js, so that a button pressed while the page still loads opens
   its dialog. Opening fires "parlor:dialog-open" on the dialog: mask.js sets up the mask
   editors in it (and, loading later, those of a dialog already open). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && !dialog.open) {
        dialog.showModal();
        dialog.dispatchEvent(new CustomEvent("parlor:dialog-open", { bubbles: true }));
      }
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  // A dialog's form that went through closes its dialog.
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog");
    if (dialog && event.detail.successful) dialog.close();
  });
})();

/* ---------- Studio lightbox (docs/media-ui.md, "The gallery") ----------
   A tile's link opens its job in the gallery's <dialog>: the body is the job page's lightbox
   fragment (media_jobs:detail, aimed at #lightbox-body). The browser traps the focus and closes
   on Esc; the focus goes back to the tile shown last. Left/Right and Prev/Next move between
   the tiles the page has loaded. */
(function () {
  var currentId = null; // the id of the tile link whose job the lightbox shows

  // Looked up each time: a push that refreshes the tile replaces the link (same id).
  function currentLink() {
    return currentId ? document.getElementById(currentId) : null;
  }

  function dialog() {
    return document.getElementById("lightbox");
  }

  function links() {
    return Array.prototype.slice.call(document.querySelectorAll("#job-list [data-lightbox-open]"));
  }

  function show(link) {
    var box = dialog();
    if (!box || !window.htmx) return;
    currentId = link.id;
    var all = links();
    var index = all.indexOf(link);
    box.querySelector("[data-lightbox-step='-1']").disabled = index <= 0;
    box.querySelector("[data-lightbox-step='1']").disabled = index < 0 || index >= all.length - 1;
    var count = box.querySelector("[data-lightbox-count]");
    if (count) count.textContent = index >= 0 ? index + 1 + " / " + all.length : "";
    window.htmx.ajax("GET", link.getAttribute("href"), { target: "#lightbox-body", swap: "innerHTML" });
    if (!box.open) box.showModal();
  }

  function step(by) {
    var current = currentLink();
    if (!current) return;
    var all = links();
    var next = all[all.indexOf(current) + by];
    if (!next) return;
    var focused = document.activeElement;
    show(next);
    // Stepping from a button that is now disabled (the last tile) keeps the focus inside.
    if (focused && focused.disabled) dialog().querySelector(".lightbox-close").focus();
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var link = event.target.closest("[data-lightbox-open]");
    if (link && dialog()) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      show(link);
      return;
    }
    var stepper = event.target.closest("[data-lightbox-step]");
    if (stepper) step(Number(stepper.dataset.lightboxStep));
    if (event.target.closest("[data-lightbox-close]")) dialog().close();
  });

  document.addEventListener("keydown", function (event) {
    var box = dialog();
    if (!box || !box.open || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
    var target = event.target;
    // Arrows keep their meaning in fields, players, the mask editor and a card's own dialog.
    if (target.closest && target.closest("input, textarea, select, audio, video, canvas, [contenteditable], dialog dialog")) {
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    step(event.key === "ArrowLeft" ? -1 : 1);
  });

  document.addEventListener(
    "close",
    function (event) {
      if (event.target !== dialog()) return;
      var body = document.getElementById("lightbox-body");
      if (body) body.innerHTML = ""; // stops a playing song or video
      var link = currentLink();
      if (link) link.focus();
    },
    true
  );

  // The card in the lightbox is refreshed by its id like any card; when its status moves on
  // (the picture is done), the stage beside it is stale: load the lightbox again.
  document.addEventListener("htmx:afterSwap", function () {
    var current = currentLink();
    var box = dialog();
    var stage = box && box.open && box.querySelector(".lightbox-stage[data-job-status]");
    var card = stage && box.querySelector("#lightbox-body .job-card[data-job-status]");
    if (card && current && card.dataset.jobStatus !== stage.dataset.jobStatus) {
      stage.dataset.jobStatus = card.dataset.jobStatus; // once per change
      window.htmx.ajax("GET", current.getAttribute("href"), { target: "#lightbox-body", swap: "innerHTML" });
    }
  });

  // "Load more": the focus goes to the first tile it brought, not back to the top.
  var loadedBefore = null;
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".tile-more a")) loadedBefore = links().length;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (loadedBefore === null) return;
    var all = links();
    if (all.length > loadedBefore) {
      all[loadedBefore].focus();
      loadedBefore = null;
    }
  });
})();

/* ---------- regenerate with another model ----------
   The menu beside Regenerate: its button shows and hides the panel (htmx loads the models on
   the first click); Esc or a click elsewhere closes it and the focus goes back to the button.
   Each model is a ws-send form, as Regenerate is. */
(function () {
  "use strict";

  function panelOf(button) {
    return document.getElementById(button.getAttribute("aria-controls"));
  }

  // Downwards when it fits above the composer, else upwards if there is more room there.
  function place(button, panel) {
    var composer = document.getElementById("composer");
    var rect = button.getBoundingClientRect();
    var limit = composer ? composer.getBoundingClientRect().top : window.innerHeight;
    var below = limit - rect.bottom;
    var header = document.querySelector(".conversation-header");
    var above = rect.top - (header ? header.getBoundingClientRect().bottom : 0);
    panel.classList.remove("opens-up");
    var wanted = Math.min(panel.scrollHeight, window.innerHeight * 0.6);
    panel.classList.toggle("opens-up", below < wanted && above > below);
  }

  function focusFirst(panel) {
    var first = panel.querySelector(".regen-menu-option");
    if (first) first.focus();
  }

  function setOpen(button, open) {
    var panel = panelOf(button);
    if (!panel) return;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      place(button, panel);
      focusFirst(panel);
    }
  }

  function closeAll(except) {
    document.querySelectorAll('.regen-model-btn[aria-expanded="true"]').forEach(function (b) {
      if (b !== except) setOpen(b, false);
    });
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var button = event.target.closest(".regen-model-btn");
    if (button) {
      closeAll(button);
      setOpen(button, button.getAttribute("aria-expanded") !== "true");
      return;
    }
    if (!event.target.closest(".regen-menu")) closeAll(null);
  });

  // The models arrive after the panel opened: the first one takes the focus.
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = event.target;
    if (!panel.classList || !panel.classList.contains("regen-menu") || panel.hidden) return;
    var button = document.querySelector('[aria-controls="' + panel.id + '"]');
    if (button) place(button, panel);
    focusFirst(panel);
  });

  // A title written by a model arrives in the heading alone (chat.titles): the sidebar's entry
  // follows when it is shown (a sidebar filtered by a search may not show it).
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var heading = event.detail && event.detail.target;
    if (!(heading instanceof Element) || heading.id !== "conversation-title") return;
    var thread = document.getElementById("thread");
    var id = thread && thread.getAttribute("data-conversation");
    var entry = id && document.getElementById("sidebar-title-" + id);
    if (entry && entry.textContent !== heading.textContent) entry.textContent = heading.textContent;
  });

  // Tabbing out of the menu closes it (the focus has gone where the person wanted).
  document.addEventListener("focusout", function (event) {
    if (!event.target.closest || !event.relatedTarget) return;
    var menu = event.target.closest(".regen-model");
    if (!menu || menu.contains(event.relatedTarget)) return;
    var button = menu.querySelector(".regen-model-btn");
    if (button && button.getAttribute("aria-expanded") === "true") setOpen(button, false);
  });

  document.addEventListener("keydown", function (event) {
    if (!event.target.closest) return;
    var menu = event.target.closest(".regen-model");
    var button = menu && menu.querySelector(".regen-model-btn");
    if (!button || button.getAttribute("aria-expanded") !== "true") return;
    var options = Array.prototype.slice.call(menu.querySelectorAll(".regen-menu-option"));
    var index = options.indexOf(event.target);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      setOpen(button, false);
      button.focus();
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && options.length) {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      options[(index + step + options.length) % options.length].focus();
    }
  });
})();

/* ---------- phone chrome: the conversation menu, a busy tab title, optional pushes ---------- */
(function () {
  "use strict";

  // The conversation's actions (templates/chat/conversation.html): open on a wide screen (the
  // CSS shows them in the header row), folded behind "⋯" on a phone and closed by a click
  // elsewhere or Escape.
  var wide = window.matchMedia("(min-width: 769px)");

  function conversationMenu() {
    return document.getElementById("conversation-menu");
  }

  function placeMenu() {
    var menu = conversationMenu();
    if (menu) menu.open = wide.matches;
  }

  function closeMenu(focusBack) {
    var menu = conversationMenu();
    if (!menu || !menu.open || wide.matches) return false;
    menu.open = false;
    if (focusBack) menu.querySelector("summary").focus();
    return true;
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && !target.closest("#conversation-menu")) closeMenu(false);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && closeMenu(true)) event.preventDefault();
  });
  wide.addEventListener("change", placeMenu);

  // The tab title starts with a dot while a reply or a media job of this conversation runs,
  // so a tab left in the background shows when it is done. Driven by what the page shows: a
  // message still streaming, or a job card with its progress bar in the thread.
  var BUSY = "• ";
  var BUSY_SELECTOR = '#thread [data-message-status="streaming"], #thread .job-card .job-progress';
  var titleTimer = null;

  function markTitle() {
    titleTimer = null;
    var title = document.title;
    var base = title.indexOf(BUSY) === 0 ? title.slice(BUSY.length) : title;
    var next = (document.querySelector(BUSY_SELECTOR) ? BUSY : "") + base;
    if (next !== title) document.title = next;
  }

  function queueTitle() {
    // A timer, not a frame: frames do not run in a background tab, where the title matters.
    if (titleTimer === null) titleTimer = window.setTimeout(markTitle, 50);
  }

  // Fragments the server marks data-oob-optional (pushes meant for the pages that show their
  // target, such as a sidebar entry or a job's signal) are dropped where their target is
  // absent; any other missing target still reports htmx:oobErrorNoTarget.
  function oobTarget(el) {
    var spec = el.getAttribute("hx-swap-oob") || "";
    var colon = spec.indexOf(":");
    if (colon >= 0) return spec.slice(colon + 1).trim();
    return el.id ? "#" + CSS.escape(el.id) : "";
  }

  function dropAbsentOptional(text) {
    if (typeof text !== "string" || text.indexOf("data-oob-optional") === -1) return text;
    var holder = document.createElement("template");
    holder.innerHTML = text;
    var dropped = false;
    holder.content.querySelectorAll("[data-oob-optional]").forEach(function (el) {
      var selector = oobTarget(el);
      var present = false;
      try {
        present = !!selector && !!document.querySelector(selector);
      } catch (e) {
        present = true; // not a selector we understand: leave it to htmx
      }
      if (!present) {
        el.remove();
        dropped = true;
      }
    });
    return dropped ? holder.innerHTML : text;
  }

  // htmx's own swaps unwrap a <template> around an oob element that cannot stand alone (the
  // rows of a streaming table: a <tbody>, chat/frames.py); the ws extension swaps each top
  // level child as it is and misses them. Frames are parsed in a template, where table
  // sections are kept when they come first: so they are unwrapped and put first.
  function hoistTemplated(text) {
    if (typeof text !== "string" || text.indexOf("<template") === -1) return text;
    var holder = document.createElement("template");
    holder.innerHTML = text;
    var lead = [];
    Array.prototype.slice.call(holder.content.children).forEach(function (child) {
      if (child.tagName !== "TEMPLATE") return;
      var oob = Array.prototype.filter.call(child.content.children, function (el) {
        return el.hasAttribute("hx-swap-oob");
      });
      if (!oob.length) return;
      oob.forEach(function (el) {
        lead.push(el.outerHTML);
      });
      child.remove();
    });
    return lead.length ? lead.join("") + holder.innerHTML : text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    placeMenu();
    if (window.htmx) {
      window.htmx.defineExtension("oob-optional", {
        transformResponse: function (text, xhr) {
          text = dropAbsentOptional(text);
          return xhr ? text : hoistTemplated(text); // no xhr: a websocket frame
        },
      });
    }
    if (document.getElementById("thread")) {
      markTitle();
      new MutationObserver(queueTitle).observe(document.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ["data-message-status"],
      });
    }
  });
})();
