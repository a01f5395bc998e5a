// After-sales big screen: snapshot over fetch, live over SSE (topic after_sales), reconnecting by
// itself, and bounded DOM (every render replaces the lists; reminders are capped).
(function () {
  "use strict";
  var MAX_REMINDERS = 20;
  var MAX_TASKS = 30;
  var token = document.body.getAttribute("data-token") || "";
  var q = "token=" + encodeURIComponent(token);
  var source = null;
  var lastId = null;
  var retryMs = 1000;
  var pending = null;
  var loading = false;
  var again = false;
  var liveReminders = [];
  var seenTasks = {};
  var dead = false;      // the link was revoked: stop reconnecting
  var waiting = false;   // a reconnect is already scheduled

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function setConn(state, label) {
    var c = document.getElementById("bs-conn");
    c.setAttribute("data-state", state);
    c.querySelector(".bs-conn-label").textContent = label;
  }
  function hhmm(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2) + ":" + ("0" + d.getSeconds()).slice(-2);
  }
  function replace(list, children) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    children.forEach(function (c) { list.appendChild(c); });
  }

  function render(data) {
    var k = data.kpi;
    document.getElementById("kpi-pending").textContent = k.pending;
    document.getElementById("kpi-in_progress").textContent = k.in_progress;
    document.getElementById("kpi-done_today").textContent = k.done_today;
    document.getElementById("kpi-satisfaction").textContent = k.satisfaction === null ? "—" : k.satisfaction + "%";
    var nextSeen = {};
    var rows = data.tasks.slice(0, MAX_TASKS).map(function (t) {
      var tr = el("tr");
      tr.setAttribute("data-task", t.id);
      var key = t.id + ":" + t.status + ":" + t.response;
      if (Object.keys(seenTasks).length && !seenTasks[key]) { tr.className = "bs-new"; }
      nextSeen[key] = true;
      tr.appendChild(el("td", "", t.group));
      tr.appendChild(el("td", "", t.user));
      tr.appendChild(el("td", "", t.task_type));
      var st = el("td");
      st.appendChild(el("span", "bs-pill r-" + t.response, t.response_name));
      tr.appendChild(st);
      tr.appendChild(el("td", "", t.staff));
      tr.appendChild(el("td", t.near_timeout ? "bs-near" : "", t.near_timeout ? "即将超时" : t.status_name));
      return tr;
    });
    seenTasks = nextSeen;
    if (!rows.length) { var tr = el("tr"); var td = el("td", "bs-empty", "暂无未完成任务"); td.colSpan = 6; tr.appendChild(td); rows = [tr]; }
    replace(document.getElementById("bs-task-rows"), rows);
    var staff = data.staff.map(function (s) {
      var li = el("li");
      li.appendChild(el("span", "", s.name));
      li.appendChild(el("span", "s-" + s.status, s.status_name + " · " + s.open_tasks + " 个任务 · 效率 " + (s.efficiency_score === null ? "—" : s.efficiency_score)));
      return li;
    });
    replace(document.getElementById("bs-staff"), staff.length ? staff : [el("li", "bs-empty", "暂无售后人员")]);
    var conflicts = data.conflicts.map(function (c) { return el("li", "k-refusal", c.group + "：" + c.reason); });
    replace(document.getElementById("bs-conflicts"), conflicts.length ? conflicts : [el("li", "bs-empty", "无")]);
    renderReminders(data.reminders);
  }

  function renderReminders(fromServer) {
    var merged = [];
    var seen = {};
    liveReminders.concat(fromServer || []).forEach(function (r) {
      var key = r.text;
      if (!seen[key] && merged.length < MAX_REMINDERS) { seen[key] = true; merged.push(r); }
    });
    var items = merged.map(function (r) {
      var li = el("li", "k-" + (r.kind || ""));
      li.appendChild(el("span", "", r.text));
      li.appendChild(el("span", "bs-time", hhmm(r.at)));
      return li;
    });
    replace(document.getElementById("bs-reminders"), items.length ? items : [el("li", "bs-empty", "暂无提醒")]);
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    fetch("/after-sales/screen/data?" + q, { cache: "no-store" }).then(function (r) {
      if (r.status === 401 || r.redirected) { revoked(); throw new Error("revoked"); }
      return r.json();
    }).then(function (body) {
      render(body.data);
    }).catch(function () {}).then(function () {
      loading = false;
      if (again) { again = false; load(); }
    });
  }
  function soon() {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; load(); }, 150);
  }
  function revoked() {
    dead = true;
    document.getElementById("bs-revoked").hidden = false;
    setConn("down", "链接已失效");
    if (source) { source.close(); source = null; }
  }

  function connect() {
    waiting = false;
    if (dead) { return; }
    if (source) { source.close(); }
    var url = "/after-sales/screen/events?" + q + (lastId ? "&since=" + encodeURIComponent(lastId) : "");
    source = new EventSource(url);
    source.onopen = function () { retryMs = 1000; setConn("live", "实时"); load(); };
    source.onerror = function () {
      setConn("down", "重连中…");
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        waiting = true;
        load();  // tells a revoked link from a network failure
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
    ["task.update", "conflict.update", "staff.update"].forEach(function (name) {
      source.addEventListener(name, function (evt) {
        if (evt.lastEventId) { lastId = evt.lastEventId; }
        try {
          var data = JSON.parse(evt.data);
          if (data.reminder) {
            liveReminders.unshift({ text: data.reminder, at: new Date().toISOString(), kind: data.kind || "" });
            liveReminders = liveReminders.slice(0, MAX_REMINDERS);
          }
        } catch (e) { /* html or empty payload: the snapshot tells all */ }
        soon();
      });
    });
  }

  function tick() {
    var d = new Date();
    document.getElementById("bs-clock").textContent = hhmm(d.toISOString());
  }
  setInterval(tick, 1000);
  tick();
  // A slow refresh as well, so KPIs derived from time (near time-out, today's counts) stay right.
  setInterval(load, 60000);
  // A watchdog: a stream the browser gave up on is reopened (the back-off timer may be lost
  // when the machine slept).
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { load(); } });
  setInterval(function () {
    if (!dead && (!source || source.readyState === EventSource.CLOSED) && !waiting) { connect(); }
  }, 30000);
  // Kiosk comforts: keep the display awake where the browser allows it; hide an idle cursor.
  function keepAwake() {
    if (navigator.wakeLock && !document.hidden) { navigator.wakeLock.request("screen").catch(function () {}); }
  }
  document.addEventListener("visibilitychange", keepAwake);
  keepAwake();
  var idle = null;
  document.addEventListener("mousemove", function () {
    document.body.classList.remove("bs-idle");
    clearTimeout(idle);
    idle = setTimeout(function () { document.body.classList.add("bs-idle"); }, 3000);
  });
  load();
  connect();
})();
