// Alerts on every console page: P0 pop-up with sound (level 4), reminders for levels 2–3;
// on the alert page, the cancel / escalate modals.
(function () {
  "use strict";
  var popup, queue = [], current = null;

  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = beep.ctx || (beep.ctx = new Ctx());
      [0, 0.35, 0.7].forEach(function (offset) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.type = "square"; osc.frequency.value = 880;
        gain.gain.value = 0.08;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + offset); osc.stop(ctx.currentTime + offset + 0.2);
      });
      document.body.setAttribute("data-p0-sound", String(Date.now()));
    } catch (e) { /* no audio: the pop-up still shows */ }
  }

  function show(alert) {
    current = alert;
    field(popup, "level_name").textContent = alert.level_name || ("L" + alert.level);
    field(popup, "type_name").textContent = alert.type_name || alert.type || "";
    field(popup, "group").textContent = alert.group ? "群「" + alert.group + "」" : "";
    field(popup, "user").textContent = alert.user ? "用户「" + alert.user + "」" : "";
    field(popup, "reason").textContent = alert.reason || "";
    field(popup, "link").setAttribute("href", "/alerts/" + alert.id);
    field(popup, "count").textContent = queue.length ? "（还有 " + queue.length + " 条）" : "";
    popup.setAttribute("data-alert-id", alert.id);
    popup.hidden = false;
    if (alert.sound) { beep(); }
  }

  function next() {
    popup.hidden = true; current = null;
    if (queue.length) { show(queue.shift()); }
  }

  function toast(alert) {
    var box = document.getElementById("alert-toasts");
    if (!box) { return; }
    var el = document.createElement("div");
    el.className = "alert-toast level-" + alert.level;
    el.textContent = (alert.level_name || ("L" + alert.level)) + " · " + (alert.type_name || "") + " · " + (alert.group || "") + " " + (alert.user || "") + "：" + (alert.reason || "");
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 15000);
  }

  function onPopup(evt) {
    var alert;
    try { alert = JSON.parse(evt.data); } catch (e) { return; }
    if (alert.level >= 4) {
      if (current && String(current.id) === String(alert.id)) { return; }
      if (current) { queue.push(alert); field(popup, "count").textContent = "（还有 " + queue.length + " 条）"; }
      else { show(alert); }
    } else if (alert.level >= 2) { toast(alert); }
  }

  function connect() {
    popup = document.getElementById("p0-popup");
    if (!popup || !window.EventSource) { return; }
    var since = popup.getAttribute("data-since");
    var source = new EventSource("/events?topics=alerts" + (since ? "&since=" + since : ""));
    source.addEventListener("alert.popup", onPopup);
    source.addEventListener("open", function () { document.body.setAttribute("data-alerts-live", "1"); });
    popup.querySelector("[data-p0-close]").addEventListener("click", next);
    popup.querySelector("[data-p0-ack]").addEventListener("click", function () {
      var id = popup.getAttribute("data-alert-id");
      fetch("/api/alerts/" + id + "/acknowledge", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": popup.getAttribute("data-csrf") }
      }).finally(next);
    });
  }

  // Modals of the alert page.
  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest("[data-alert-modal]");
    if (opener) {
      var dialog = document.getElementById("alert-" + opener.getAttribute("data-alert-modal") + "-modal");
      if (!dialog) { return; }
      var form = dialog.querySelector("form");
      form.reset();
      form.querySelector('[name="alert_id"]').value = opener.getAttribute("data-alert-id");
      dialog.querySelector('[data-field="id"]').textContent = "#" + opener.getAttribute("data-alert-id");
      var select = form.querySelector('[name="escalate_to"]');
      if (select) {
        var level = parseInt(opener.getAttribute("data-alert-level") || "1", 10);
        Array.prototype.forEach.call(select.options, function (o) { o.disabled = parseInt(o.value, 10) <= level; });
        select.value = String(Math.min(level + 1, 4));
      }
      dialog.showModal();
      return;
    }
    if (evt.target.closest("[data-dismiss]")) { evt.target.closest("dialog").close(); return; }
    var quick = evt.target.closest("[data-reason]");
    if (quick) { quick.closest("form").querySelector('[name="cancel_reason"]').value = quick.getAttribute("data-reason"); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.target.closest && evt.target.closest("form[data-close-dialog]");
    if (form && evt.detail.successful) { form.closest("dialog").close(); }
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", connect); } else { connect(); }
})();
