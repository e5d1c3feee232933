// Small behaviours of our own on top of htmx: the composer's keys, editing a message in place,
// keeping the transcript scrolled to the newest message, showing the state of the live
// connection, and showing times in the viewer's own time zone.
(function () {
  "use strict";

  function nearBottom(element) {
    return element.scrollHeight - element.scrollTop - element.clientHeight < 80;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var editing = target.matches && target.matches(".message-edit textarea");
    if (event.isComposing || (target.id !== "composer-body" && !editing)) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      target.form.requestSubmit();
    } else if (event.key === "Escape" && editing) {
      event.preventDefault();
      editCancel(target.form);
    }
  });

  // Editing a message in place: Edit asks the server for the editor (its text prefilled),
  // shown in place of the message's text; Save replaces the message with its new version,
  // Cancel (or Esc) takes the editor away and shows the text again.
  function editCancel(form) {
    var article = form.closest("article");
    form.remove();
    var edit = article && article.querySelector("[data-edit]");
    if (edit) edit.focus();
  }
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest && event.target.closest(".message-edit [data-edit-cancel]");
    if (cancel) editCancel(cancel.form);
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var edit = event.detail.elt;
    if (!edit.matches("[data-edit]")) return;
    var open = edit.closest("article").querySelector(".message-edit textarea");
    if (open) {
      event.preventDefault(); // one editor per message
      open.focus();
    }
  });
  document.addEventListener("htmx:load", function (event) {
    var textarea = event.detail.elt.matches(".message-edit") && event.detail.elt.querySelector("textarea");
    if (!textarea) return;
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  });

  var stickToBottom = true;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var transcript = document.getElementById("transcript");
    stickToBottom = transcript ? nearBottom(transcript) : false;
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var transcript = document.getElementById("transcript");
    if (transcript && stickToBottom) transcript.scrollTop = transcript.scrollHeight;
  });
  // The composer is replaced by an empty one when a message is posted: the new one keeps the
  // height the person gave the old one (set through the CSSOM, which the CSP allows). The
  // empty one can arrive after the posted message itself (the server sends it once the post
  // is done, the message goes out as soon as it is saved): whoever started on the next
  // message meanwhile keeps it, so the composer is emptied only while it holds what was sent.
  var composerHeight = "";
  var composerSent = null;
  document.addEventListener("htmx:wsBeforeSend", function (event) {
    if (event.target.id === "composer") composerSent = JSON.parse(event.detail.message).body;
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "composer-body") return;
    if (composerSent !== null && target.value !== composerSent) {
      event.detail.shouldSwap = false;
      return;
    }
    composerHeight = target.style.height;
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var composer = document.getElementById("composer-body");
    if (!event.detail.target || event.detail.target.id !== "composer-body" || !composer) return;
    if (composerHeight) composer.style.height = composerHeight;
    composer.focus();
  });

  // Frames carry the whole text of an answer, numbered by data-seq. One that is older than
  // what the page shows (it can arrive just after a reconnect's transcript) must not roll the
  // text back; the next frame brings the rest anyway.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail.fragment;
    // Only for "added" events: the reconnect transcript (the #transcript element itself)
    // replaces the whole list, so there is nothing to keep unique.
    if (event.detail.target.id === "transcript" && fragment && fragment.id !== "transcript") {
      keepMessagesUnique(fragment);
    }
    var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    var shown = event.detail.target;
    if (!incoming || !shown || !("seq" in incoming.dataset) || !("seq" in shown.dataset)) return;
    if (Number(incoming.dataset.seq) < Number(shown.dataset.seq)) event.detail.shouldSwap = false;
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    if (event.detail.shouldSwap !== false && event.detail.fragment) {
      carryEditors(event.detail.target, event.detail.fragment);
    }
  });

  // A socket follows the thread before it is sent what it lacks, so a message posted in between
  // arrives twice: show it once. An article for a message older than the newest shown, and not
  // shown, belongs to an earlier page this page has not loaded: leave it out.
  function keepMessagesUnique(fragment) {
    if (!fragment || !fragment.querySelectorAll) return;
    var newest = newestShownId();
    fragment.querySelectorAll(":scope > article.message").forEach(function (article) {
      var shown = document.getElementById(article.id);
      if (shown && shown.closest("#transcript")) {
        carryEditors(shown, article);
        shown.replaceWith(article);
        restoreFocus();
      } else if (messageNumber(article) < newest) {
        article.remove();
      }
    });
  }

  // A message being edited here can arrive again meanwhile (changed, sent twice around a
  // reconnect, or within the whole transcript after Redis was away): its new version keeps the
  // open editor, with what was typed in it, unless it can no longer be edited (deleted) or
  // the editor is saving (the new version is what it saved).
  var focused = null;
  function carryEditors(shown, incoming) {
    if (!shown.querySelectorAll) return;
    shown.querySelectorAll(".message-edit:not(.htmx-request)").forEach(function (form) {
      var id = form.closest("article").id;
      var next = incoming.id === id ? incoming : incoming.querySelector("#" + CSS.escape(id));
      var body = next && next.querySelector("#" + CSS.escape(id + "-body"));
      if (!body || !next.querySelector("[data-edit]") || next.querySelector(".message-edit")) return;
      var active = document.activeElement;
      if (form.contains(active)) {
        focused = { element: active, start: active.selectionStart, end: active.selectionEnd };
      }
      body.after(form);
    });
  }
  function restoreFocus() {
    if (!focused || !focused.element.isConnected) return;
    focused.element.focus();
    if (focused.start != null) focused.element.setSelectionRange(focused.start, focused.end);
    focused = null;
  }
  document.addEventListener("htmx:oobAfterSwap", restoreFocus);

  function messageNumber(article) {
    return Number(article.id.replace("message-", ""));
  }

  function newestShownId() {
    var articles = document.querySelectorAll("#transcript > article.message");
    return articles.length ? messageNumber(articles[articles.length - 1]) : 0;
  }

  // A socket that (re)connects says up to which revision of the thread the page is current
  // (?since=N, the highest data-rev shown), and is sent only what changed after it.
  var createWebSocket = htmx.createWebSocket;
  htmx.createWebSocket = function (url) {
    var transcript = document.getElementById("transcript");
    if (!transcript) return createWebSocket(url);
    var since = 0;
    transcript.querySelectorAll("article[data-rev]").forEach(function (article) {
      since = Math.max(since, Number(article.dataset.rev));
    });
    return createWebSocket(url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + since);
  };

  function showConnection(state, text) {
    var badge = document.getElementById("connection");
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = text;
  }
  // htmx's WebSocket extension reconnects by itself after these close codes only; after any
  // other (a clean 1000, daphne's 1001 when it shuts down) we reconnect, with the same kind of
  // growing, jittered pause. 4401 and 4404 mean no access: reconnecting would not help.
  var EXTENSION_RECONNECTS = [1006, 1011, 1012, 1013];
  var NO_ACCESS = { 4401: "signed out: reload to log in again", 4404: "no access to this thread" };
  var retries = 0;
  // A side panel's socket (data-side-socket: a catch-up being written) is not the page's
  // connection: the badge is not about it (it reconnects all the same).
  function pageSocket(event) {
    return !(event.target.closest && event.target.closest("[data-side-socket]"));
  }
  // "live" is the server's word (the badge it sends once the socket follows the thread, and
  // again when its Redis is back after being away): an open socket is not enough.
  document.addEventListener("htmx:wsOpen", function (event) {
    if (pageSocket(event)) retries = 0;
  });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    var page = pageSocket(event);
    if (code in NO_ACCESS) {
      if (page) showConnection("closed", NO_ACCESS[code]);
      return;
    }
    if (page) showConnection("reconnecting", "reconnecting…");
    if (EXTENSION_RECONNECTS.indexOf(code) < 0 && document.body.contains(event.target)) {
      var pause = Math.random() * 1000 * Math.pow(2, Math.min(retries++, 5));
      setTimeout(event.detail.socketWrapper.reconnect, pause);
    }
  });

  // A message sent while the page is not live (its socket closed, or the server's Redis away)
  // stays in the composer, which says so, and is sent once the server says "live" again:
  // once, with whatever the box holds then. Typing signals are not held: they would be stale.
  var HELD = "Not connected: your message is kept here and sent when the connection is back.";
  function pageLive() {
    var badge = document.getElementById("connection");
    return !badge || badge.dataset.state === "live";
  }
  document.addEventListener("htmx:wsConfigSend", function (event) {
    var form = event.target;
    if (pageLive() || (form.id !== "composer" && form.id !== "typing-signal")) return;
    event.preventDefault();
    var error = document.getElementById("composer-error");
    if (form.id === "composer" && error) {
      form.dataset.held = "true";
      error.textContent = HELD;
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var composer = document.getElementById("composer");
    if (event.detail.target.id !== "connection" || !pageLive() || !composer) return;
    if (composer.dataset.held !== "true") return;
    delete composer.dataset.held;
    var error = document.getElementById("composer-error");
    if (error && error.textContent === HELD) error.textContent = "";
    composer.requestSubmit();
  });

  // A button's request refused (e.g. Retry over the waiting-questions limit): show why where
  // the composer shows its errors; an edit refused (empty, too long), in its editor.
  // (Not the page's report of how far it was read, which no person asked for: the next one
  // tells the server as much.)
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.elt.matches && event.detail.elt.matches("[data-read-url]")) return;
    var editor = event.detail.elt.closest && event.detail.elt.closest(".message-edit");
    var error = editor ? editor.querySelector(".error") : document.getElementById("composer-error");
    if (!error) return;
    var reason;
    try {
      reason = JSON.parse(event.detail.xhr.responseText).error;
    } catch (ignored) {
      reason = null;
    }
    error.textContent = reason || "That did not work (" + event.detail.xhr.status + ").";
  });

  // The server writes times in its own zone, with the instant in <time datetime>; rewrite them
  // in the viewer's: the time alone for today, else with the day. Whatever htmx swaps in later
  // (over the socket or HTTP) is caught by watching the page for added elements.
  var timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var dayAndTime = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
  var full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

  function localizeTimes(root) {
    var times = root.matches("time[datetime]") ? [root] : root.querySelectorAll("time[datetime]");
    Array.prototype.forEach.call(times, function (element) {
      var instant = new Date(element.getAttribute("datetime"));
      if (isNaN(instant)) return;
      var today = instant.toDateString() === new Date().toDateString();
      element.textContent = (today ? timeOnly : dayAndTime).format(instant);
      element.title = full.format(instant);
    });
  }

  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(function (node) {
        if (node.nodeType === Node.ELEMENT_NODE) localizeTimes(node);
      });
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  // A member changed the thread's settings (the summary was swapped in): the settings form
  // is read again to show the new values, unless this person is editing it.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "thread-settings-summary") return;
    var panel = document.querySelector(".thread-settings-panel");
    var form = document.getElementById("thread-settings-form");
    if (panel && form && !form.contains(document.activeElement)) {
      htmx.trigger(panel, "settings-changed");
    }
  });

  // The composer's mention suggestions (server-rendered as you type "@"): choosing one
  // completes the handle being typed at the end of the message. A click chooses; so do the
  // keys: the arrows move through them, Tab takes the one marked (else the first), Enter the
  // one the arrows marked (otherwise Enter sends, as always), Esc closes them.
  function suggestionChoose(choice) {
    var composer = document.getElementById("composer-body");
    if (!choice || !composer) return;
    composer.value = composer.value.replace(/@[\w-]*$/, "@" + choice.dataset.handle + " ");
    choice.parentElement.replaceChildren();
    composer.focus();
  }
  document.addEventListener("click", function (event) {
    suggestionChoose(event.target.closest && event.target.closest("#handle-suggestions [data-handle]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.id !== "composer-body" || event.isComposing) return;
    var options = Array.prototype.slice.call(
      document.querySelectorAll("#handle-suggestions [data-handle]"));
    if (!options.length) return;
    var marked = options.findIndex(function (option) {
      return option.getAttribute("aria-selected") === "true";
    });
    var handled = true;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var step = event.key === "ArrowDown" ? 1 : -1;
      var next = marked < 0 ? (step > 0 ? 0 : options.length - 1)
        : (marked + step + options.length) % options.length;
      options.forEach(function (option, index) {
        option.setAttribute("aria-selected", index === next ? "true" : "false");
      });
    } else if (event.key === "Tab" && !event.shiftKey) {
      suggestionChoose(options[Math.max(marked, 0)]);
    } else if (event.key === "Enter" && !event.shiftKey && marked >= 0) {
      suggestionChoose(options[marked]);
    } else if (event.key === "Escape") {
      options[0].parentElement.replaceChildren();
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation(); // before the composer's own keys: Enter must not send too
    }
  }, true);

  // Copy buttons: a code block's Copy copies its code; another names what it copies with
  // data-copy-from (a field's value or an element's text). The button says whether it worked.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    var source = button.dataset.copyFrom
      ? document.querySelector(button.dataset.copyFrom)
      : button.closest(".code-block") && button.closest(".code-block").querySelector("pre");
    if (!source) return;
    var text = "value" in source ? source.value : source.textContent;
    var label = button.dataset.label || (button.dataset.label = button.textContent);
    var said = function (word) {
      button.textContent = word;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    navigator.clipboard.writeText(text).then(
      function () { said("Copied"); },
      function () { said("Could not copy"); }
    );
  });

  // The sidebar: a thread that became active comes in at the top of the list; its old entry
  // (and the "no threads" line) goes. The current place stays marked, and on a narrow screen
  // the Menu button shows and hides the sidebar.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || target.id !== "nav-threads" || !fragment || !fragment.querySelectorAll) return;
    fragment.querySelectorAll(":scope > li[id]").forEach(function (item) {
      var shown = document.getElementById(item.id);
      if (shown && shown.parentElement === target) shown.remove();
    });
    var empty = document.getElementById("nav-no-threads");
    if (empty && fragment.querySelector(":scope > li[id^=nav-thread-]")) empty.remove();
  });
  function navCurrentMark() {
    var sidebar = document.getElementById("sidebar");
    var current = sidebar && sidebar.dataset.current && document.getElementById(sidebar.dataset.current);
    var link = current && current.querySelector("a");
    if (link) link.setAttribute("aria-current", "page");
  }
  document.addEventListener("htmx:oobAfterSwap", navCurrentMark);
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".nav-toggle");
    var sidebar = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (!sidebar) return;
    var open = sidebar.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // Unread messages. The thread page tells the server how far it was read (the newest message
  // shown, up to any answer still being written) when it loads, when messages arrive, and
  // when the tab comes back into view: never while the tab is hidden. The server keeps it and updates the counts on all the person's
  // pages; the tab's title starts with their total in the sidebar (the open thread's left out
  // while it is in view).
  var readReport = null;
  var readReported = 0;
  function threadReadReport() {
    clearTimeout(readReport);
    readReport = setTimeout(function () {
      var thread = document.querySelector("[data-read-url]");
      var newest = newestReadableId();
      if (!thread || document.hidden) return;
      if (newest <= Math.max(readReported, Number(thread.dataset.readUpTo || 0))) return;
      readReported = newest;
      htmx.ajax("POST", thread.dataset.readUrl, {
        source: thread, values: { message: newest }, swap: "none",
      }).then(function () {
        thread.dataset.readUpTo = Math.max(newest, Number(thread.dataset.readUpTo || 0));
      });
    }, 200);
  }
  // Read up to the message before the first answer still being written: that answer is
  // unread until it has ended, even for someone who watched it begin and left.
  function newestReadableId() {
    var newest = 0;
    var articles = document.querySelectorAll("#transcript > article.message");
    for (var i = 0; i < articles.length; i++) {
      var status = articles[i].dataset.status;
      if (status === "queued" || status === "streaming") break;
      newest = messageNumber(articles[i]);
    }
    return newest;
  }
  var plainTitle = document.title;
  function unreadTitle() {
    var total = 0;
    document.querySelectorAll("#sidebar [data-unread-for]").forEach(function (badge) {
      var inView = !document.hidden && badge.closest("[aria-current=page]");
      if (!inView) total += Number(badge.dataset.count || 0);
    });
    document.title = (total ? "(" + total + ") " : "") + plainTitle;
  }
  document.addEventListener("htmx:wsAfterMessage", function () {
    threadReadReport();
    unreadTitle();
  });
  document.addEventListener("visibilitychange", function () {
    threadReadReport();
    unreadTitle();
  });

  document.addEventListener("DOMContentLoaded", function () {
    threadReadReport();
    unreadTitle();
    localizeTimes(document.body);
    var transcript = document.getElementById("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
  });
})();
