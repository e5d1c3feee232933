{% load static %}// Roundtable's service worker: it shows the notifications pushed to this device and opens
// where each happened when it is clicked. Registered by the inbox page's "Turn on" button
// (static/js/push.js); served from /service-worker.js so that it covers every page.
"use strict";

self.addEventListener("push", function (event) {
  var data = event.data ? event.data.json() : {};
  event.waitUntil(
    clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      // A page of ours in front already shows it in the bell.
      if (windows.some(function (page) { return page.focused; })) return;
      return self.registration.showNotification(data.title || "Roundtable", {
        body: data.body || "",
        tag: data.tag, // the same as the page's own notification: one of the two shows
        icon: "{% static 'favicon.svg' %}",
        data: { url: data.url || "/" },
      });
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL(event.notification.data.url, self.location.origin);
  if (url.origin !== self.location.origin) url = new URL("/", self.location.origin);
  event.waitUntil(
    clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      var open = windows.find(function (page) { return page.url === url.href; });
      return open ? open.focus() : clients.openWindow(url.href);
    })
  );
});
