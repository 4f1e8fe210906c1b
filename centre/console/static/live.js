// Keep a page current: on each change the server reports over server-sent events (only the
// topics the container's data-topics names, and for a home page only that home) re-read the
// page's server-rendered fragment. A note being typed is never wiped: the refresh waits until
// the operator has left the field empty or sent the form, also when the typing began while the
// fragment was being fetched. Every 30 s the fragment is re-read
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
  function hold() {
    due = true;
    live.dataset.held = "true"; // a newer fragment waits for the note to be sent or cleared
  }
  async function refresh() {
    if (typing()) {
      hold();
      return;
    }
    due = false;
    const response = await fetch(live.dataset.fragment, { credentials: "same-origin" });
    if (response.redirected || response.status === 401) {
      window.location.assign("/login"); // the session ended: log in again
      return;
    }
    if (!response.ok) return;
    const html = await response.text();
    if (typing()) {
      hold(); // the operator began typing while the fragment was on its way
      return;
    }
    delete live.dataset.held;
    live.innerHTML = html;
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
