// Keep a page current: each incident change over server-sent events re-reads the page's
// server-rendered live fragment (named by the container's data-fragment). The browser reconnects by itself; on reconnecting we re-read
// too, so nothing that happened meanwhile is missed.
"use strict";
(function () {
  const live = document.getElementById("live");
  async function refresh() {
    const response = await fetch(live.dataset.fragment, { credentials: "same-origin" });
    if (response.redirected) {
      window.location.assign("/login"); // the session ended: log in again
    } else if (response.ok) {
      live.innerHTML = await response.text();
    } else if (response.status === 401) {
      window.location.assign("/login");
    }
  }
  const source = new EventSource("/api/events");
  source.addEventListener("incident", refresh);
  source.addEventListener("resync", refresh);
  source.addEventListener("ready", function () {
    document.body.dataset.live = "connected";
    refresh();
  });
  source.addEventListener("error", function () {
    document.body.dataset.live = "reconnecting";
  });
})();
