// The sources page. A source's row arrives whole over the socket, to be put first in the list:
// if the row is already shown (it progressed, or it was re-indexed), it is replaced in place.
// A row put in place here, not by htmx's own swap, must be handed to htmx.process: until then
// its buttons are plain forms (no CSRF header, no confirmation) that the server refuses.
(function () {
  "use strict";
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var incoming = event.detail.fragment;
    // Only a row event (an "afterbegin" swap: the fragment is the <tbody> holding the row);
    // the whole list (on connect) replaces the body as it is.
    if (!target || target.id !== "sources-body" || !incoming || incoming.tagName !== "TBODY") return;
    Array.prototype.slice.call(incoming.children).forEach(function (row) {
      var shown = document.getElementById(row.id);
      if (!shown) return; // htmx inserts (and processes) the rows not yet shown
      shown.replaceWith(row);
      htmx.process(row);
    });
    var empty = document.getElementById("no-sources");
    if (empty) empty.remove();
  });

  // The whole list has come over the socket (on connect): from now on every change arrives
  // live, and the list will not be replaced under a form being filled in (tests wait for it).
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "sources-body") {
      // The swapped-out element is detached: look the page up afresh.
      var page = document.querySelector(".sources");
      if (page) page.setAttribute("data-live", "");
    }
  });

  // A refused address's new one comes back as a 400 with the reason when it is refused too:
  // show it in the row's form (htmx swaps no error response by itself).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.elt;
    if (event.detail.xhr.status === 400 && form && form.closest && form.closest(".source-url-edit")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
