// Small behaviours of our own on top of htmx: the composer's keys, keeping the transcript
// scrolled to the newest message, and showing the state of the live connection.
(function () {
  "use strict";

  function nearBottom(element) {
    return element.scrollHeight - element.scrollTop - element.clientHeight < 80;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.id === "composer-body" && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      target.form.requestSubmit();
    }
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
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "composer-body") event.detail.target.focus();
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

  // A socket joins the thread's group before it is sent the transcript, so a message posted in
  // between arrives twice: once in the transcript, once as "added". Show it once.
  function keepMessagesUnique(fragment) {
    if (!fragment || !fragment.querySelectorAll) return;
    fragment.querySelectorAll(":scope > article.message").forEach(function (article) {
      var shown = document.getElementById(article.id);
      if (shown && shown.closest("#transcript")) {
        shown.replaceWith(article);
      }
    });
  }

  function showConnection(state, text) {
    var badge = document.getElementById("connection");
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = text;
  }
  document.addEventListener("htmx:wsOpen", function () { showConnection("live", "live"); });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    if (code === 4401 || code === 4404) showConnection("closed", "no access to this thread");
    else showConnection("reconnecting", "reconnecting…");
  });

  document.addEventListener("DOMContentLoaded", function () {
    var transcript = document.getElementById("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
  });
})();
