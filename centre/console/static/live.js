// Keep a page current: on each change the server reports over server-sent events (only the
// topics the container's data-topics names, and for a home page only that home) re-read the
// page's server-rendered fragment. A note being typed is never wiped: the refresh waits until
// the operator has left the field empty or sent the form. Every 30 s the fragment is re-read
// anyway, so "waiting" times keep counting. On reconnecting we re-read too.
"use strict";
(function () {
  const live = document.getElementById("live");
  const topics = (live.dataset.topics || "").split(" ");
  let due = false;
  function typing() {
    return Array.from(live.querySelectorAll("textarea, input[type=text]")).some(
      (field) => field === document.activeElement || field.value.trim() !== ""
    );
  }
  async function refresh() {
    if (typing()) {
      due = true;
      return;
    }
    due = false;
    const response = await fetch(live.dataset.fragment, { credentials: "same-origin" });
    if (response.redirected || response.status === 401) {
      window.location.assign("/login"); // the session ended: log in again
    } else if (response.ok) {
      live.innerHTML = await response.text();
    }
  }
  function changed(event) {
    const data = JSON.parse(event.data || "{}");
    if (live.dataset.home && event.type === "home" && data.home_id !== live.dataset.home) {
      return;
    }
    refresh();
  }
  const source = new EventSource("/api/events");
  topics.forEach((topic) => source.addEventListener(topic, changed));
  source.addEventListener("resync", refresh);
  source.addEventListener("ready", function () {
    document.body.dataset.live = "connected";
    refresh();
  });
  source.addEventListener("error", function () {
    document.body.dataset.live = "reconnecting";
  });
  live.addEventListener("focusout", function () {
    if (due) window.setTimeout(refresh, 500);
  });
  window.setInterval(refresh, 30000);
})();
