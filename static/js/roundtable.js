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
