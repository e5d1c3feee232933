// The inbox bell on every page: its own socket (/ws/inbox/), whose server-rendered fragments
// are swapped in by id, as htmx does for the thread's socket. A new notification also shows as
// a browser notification while the tab is hidden, if the person allowed it (asked only when
// they click the inbox page's button, never on load), and joins the list on the inbox page.
(function () {
  "use strict";

  var CLOSED_FOR_GOOD = [4401, 4404]; // signed out, or no access: reconnecting would not help
  var retries = 0;
  var lastShown = null;

  function connect(path) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + path);
    socket.addEventListener("open", function () { retries = 0; });
    socket.addEventListener("message", function (event) {
      htmx.swap(document.body, event.data, { swapStyle: "none" });
      // The first message is the count, sent once the socket follows the inbox: live.
      var bell = document.getElementById("inbox-bell");
      if (bell) bell.dataset.state = "live";
    });
    socket.addEventListener("close", function (event) {
      var bell = document.getElementById("inbox-bell");
      if (bell) bell.dataset.state = "closed";
      if (CLOSED_FOR_GOOD.indexOf(event.code) >= 0) return;
      var pause = Math.random() * 1000 * Math.pow(2, Math.min(retries++, 5));
      setTimeout(function () { connect(path); }, pause);
    });
  }

  function notified(alert) {
    var id = alert.dataset.id;
    if (!id || id === lastShown) return;
    lastShown = id;
    var list = document.getElementById("inbox-list");
    var template = alert.querySelector("template");
    var item = template && template.content.querySelector("li");
    if (list && item && !document.getElementById(item.id)) {
      var shown = document.importNode(item, true);
      withCsrfToken(shown);
      list.prepend(shown);
      htmx.process(shown);
      var empty = document.getElementById("inbox-empty");
      if (empty) empty.hidden = true;
    }
    if (document.visibilityState !== "hidden") return;
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var shownNotification = new Notification(alert.dataset.title, {
      body: alert.dataset.body,
      tag: "roundtable-notification-" + id,
    });
    shownNotification.onclick = function () {
      window.focus();
      location.assign(alert.dataset.url);
    };
  }

  // Fragments rendered for a socket carry no CSRF token: its forms get the page's.
  function withCsrfToken(root) {
    var token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    root.querySelectorAll("form[method=post]").forEach(function (form) {
      if (!token || form.querySelector("[name=csrfmiddlewaretoken]")) return;
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "csrfmiddlewaretoken";
      input.value = token;
      form.append(input);
    });
  }

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var alert = document.getElementById("inbox-alert");
    if (alert && event.detail.target && event.detail.target.id === "inbox-alert") notified(alert);
  });

  // The inbox page's button: the browser asks for permission only when it is clicked.
  function showPermission() {
    var state = document.getElementById("browser-notifications-state");
    var button = document.getElementById("browser-notifications");
    if (!state || !button) return;
    if (!("Notification" in window)) {
      state.textContent = "This browser cannot show notifications.";
      button.disabled = true;
      return;
    }
    state.textContent = {
      granted: "On in this browser.",
      denied: "Blocked: allow notifications for this site in the browser's settings.",
      default: "Off in this browser.",
    }[Notification.permission] || "";
    button.hidden = Notification.permission === "granted";
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("#browser-notifications")) return;
    if (!("Notification" in window)) return;
    Notification.requestPermission().then(showPermission);
  });

  document.addEventListener("DOMContentLoaded", function () {
    showPermission();
    var bell = document.getElementById("inbox-bell");
    if (bell && bell.dataset.socket) connect(bell.dataset.socket);
  });
})();
