/* Progress page: fetch the JSON every two seconds while the alert is sending. */
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root || root.getAttribute("data-running") !== "1") { return; }
  var url = root.getAttribute("data-url"), timer = null;
  function fmt(n) { return Number(n).toLocaleString(); }
  function set(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function apply(data) {
    set("percent", data.percent); set("finished", fmt(data.finished)); set("expected", fmt(data.expected));
    var bar = document.getElementById("bar"); if (bar) { bar.value = data.percent; }
    Object.keys(data.by_channel).forEach(function (channel) {
      Object.keys(data.by_channel[channel]).forEach(function (bucket) {
        var cell = root.querySelector('td[data-channel="' + channel + '"][data-bucket="' + bucket + '"]');
        if (cell) { cell.textContent = fmt(data.by_channel[channel][bucket]); }
      });
    });
    set("alert-state", data.state_label || data.state);
    if (data.finished_at) {
      set("finished-at", data.finished_at);
      document.getElementById("finished-at").setAttribute("datetime", data.finished_at_iso);
    }
    if (data.state !== "scheduled" && data.state !== "sending") {
      window.clearInterval(timer);
      var abort = document.getElementById("abort-form");
      if (abort) { abort.hidden = true; }
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* a lost poll is retried on the next tick */ });
  }
  timer = window.setInterval(poll, 2000);
}());
