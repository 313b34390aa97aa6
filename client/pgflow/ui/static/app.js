// pgflow dashboard: keeps the token typed once for the tab, and keeps a run page live.
// The run page's changing part (#live) is re-rendered by the server (escaped there) and swapped
// in whenever the run's event stream says something happened; while the run is in progress it is
// also refreshed every few seconds, since a map's tasks complete without step events.
(function () {
  "use strict";
  var TOKEN_KEY = "pgflow-ui-token";
  var POLL_MS = 3000;

  function rememberToken() {
    var saved = null;
    try { saved = window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    document.querySelectorAll("input[name=token]").forEach(function (input) {
      if (saved && !input.value) { input.value = saved; }
      if (input.form) {
        input.form.addEventListener("submit", function () {
          try { window.sessionStorage.setItem(TOKEN_KEY, input.value); } catch (e) { /* storage off */ }
        });
      }
    });
  }

  function liveRun(live) {
    var fragmentUrl = live.dataset.fragment;
    var eventsUrl = live.dataset.events;
    var stateEl = document.getElementById("live-state");
    var noteEl = document.getElementById("live-note");
    var busy = false, again = false, timer = null, source = null;

    function say(state, note) {
      stateEl.className = "dot " + state;
      stateEl.textContent = state === "on" ? "live" : state === "off" ? "reconnecting" : "finished";
      if (note !== undefined) { noteEl.textContent = note; }
    }

    function status() {
      var el = document.getElementById("run-state");
      return el ? el.dataset.status : "";
    }

    function schedule() {
      window.clearTimeout(timer);
      if (status() === "started") { timer = window.setTimeout(refresh, POLL_MS); }
    }

    function swap(html) {
      var open = {};
      live.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
      var tpl = document.createElement("template");
      tpl.innerHTML = html;
      tpl.content.querySelectorAll("details[id]").forEach(function (d) {
        if (Object.prototype.hasOwnProperty.call(open, d.id)) { d.open = open[d.id]; }
      });
      live.replaceChildren(tpl.content);
      document.body.dataset.runStatus = status();
      live.dataset.refreshes = String(Number(live.dataset.refreshes || "0") + 1);
    }

    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(fragmentUrl, { cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(new Error("HTTP " + resp.status)); })
        .then(swap)
        .catch(function (err) { noteEl.textContent = "refresh failed: " + err.message; })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); } else { schedule(); }
          if (status() !== "started" && source) { source.close(); source = null; say("done"); }
        });
    }

    if (status() !== "started") { say("done"); return; }
    source = new window.EventSource(eventsUrl);
    source.addEventListener("hello", function () { say("on"); refresh(); });
    source.addEventListener("pgflow", function (e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch (err) { /* ignore */ }
      say("on", "last event: " + (data.event || "?"));
      refresh();
    });
    source.addEventListener("resync", function () { refresh(); });
    source.onerror = function () { if (source) { say("off"); } };
    schedule();
  }

  // The runs list's first page: re-rendered (at most once per THROTTLE_MS) when a run starts or ends.
  function liveList(box) {
    var THROTTLE_MS = 1500;
    var stateEl = document.getElementById("live-state");
    var pending = null, last = 0;

    function refresh() {
      pending = null;
      last = Date.now();
      fetch(box.dataset.fragment, { cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(new Error("HTTP " + resp.status)); })
        .then(function (html) {
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          box.replaceChildren(tpl.content);
          box.dataset.refreshes = String(Number(box.dataset.refreshes || "0") + 1);
        })
        .catch(function () { /* the next event tries again */ });
    }

    function soon() {
      if (pending !== null) { return; }
      pending = window.setTimeout(refresh, Math.max(0, last + THROTTLE_MS - Date.now()));
    }

    var source = new window.EventSource(box.dataset.events);
    source.addEventListener("hello", function () { stateEl.className = "dot on"; stateEl.textContent = "live"; });
    source.addEventListener("pgflow", soon);
    source.addEventListener("resync", soon);
    source.onerror = function () { stateEl.className = "dot off"; stateEl.textContent = "reconnecting"; };
  }

  document.addEventListener("DOMContentLoaded", function () {
    rememberToken();
    var live = document.getElementById("live");
    if (live) { liveRun(live); }
    var list = document.getElementById("runs-live");
    if (list) { liveList(list); }
  });
}());
