// Push to this device, on the inbox page: each workspace's button turns Web Push on or off for
// this browser. The browser asks for permission only when a button is clicked; on load the page
// only reads whether this browser already has a subscription, and which workspaces use it.
(function () {
  "use strict";

  var list, state;

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  }

  // POST or DELETE JSON; the answer is the workspaces that now push to this browser.
  function send(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) throw new Error(answer.error || "The server refused it.");
        return answer.workspaces;
      });
    });
  }

  function show(workspaces) {
    list.querySelectorAll(".push-toggle").forEach(function (button) {
      var on = workspaces.indexOf(Number(button.dataset.workspace)) >= 0;
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "Turn off" : "Turn on";
      button.disabled = false;
    });
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration("/").then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    });
  }

  // The server's public key, as the bytes pushManager.subscribe takes.
  function serverKey() {
    var text = atob(list.dataset.key.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(text, function (c) { return c.charCodeAt(0); });
  }

  function subscribe() {
    return navigator.serviceWorker.register(list.dataset.worker)
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) {
        return registration.pushManager.getSubscription().then(function (existing) {
          return existing || registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: serverKey(),
          });
        });
      });
  }

  function turnOn(button) {
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        throw new Error("Notifications are blocked: allow them for this site in the browser's settings.");
      }
      return subscribe();
    }).then(function (subscription) {
      return send("POST", button.dataset.url, subscription.toJSON());
    });
  }

  function turnOff(button) {
    return currentSubscription().then(function (subscription) {
      if (!subscription) return [];
      return send("DELETE", button.dataset.url, { endpoint: subscription.endpoint })
        .then(function (workspaces) {
          // No workspace pushes here any more: the browser stops listening altogether.
          if (workspaces.length) return workspaces;
          return subscription.unsubscribe().then(function () { return []; });
        });
    });
  }

  function toggle(button) {
    var on = button.getAttribute("aria-pressed") === "true";
    button.disabled = true;
    (on ? turnOff(button) : turnOn(button)).then(function (workspaces) {
      state.textContent = "";
      show(workspaces);
    }, function (error) {
      state.textContent = error.message;
      button.disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    list = document.getElementById("push-workspaces");
    state = document.getElementById("push-state");
    if (!list) return;
    if (!window.isSecureContext) {
      state.textContent = "Push needs the site served over https (or opened as localhost).";
      return;
    }
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      state.textContent = "This browser cannot receive push notifications.";
      return;
    }
    currentSubscription().then(function (subscription) {
      if (!subscription) return [];
      return send("POST", list.dataset.statusUrl, { endpoint: subscription.endpoint });
    }).then(show, function (error) {
      state.textContent = error.message;
      show([]);
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest(".push-toggle");
      if (button) toggle(button);
    });
  });
})();
