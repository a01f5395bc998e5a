// Live pages: keep the SSE resume point current, trim long streams, show connection state,
// copy buttons. Everything else is htmx attributes.
(function () {
  "use strict";
  function setState(ok) {
    var el = document.getElementById("live-state");
    if (el) { el.classList.toggle("down", !ok); el.querySelector(".label").textContent = ok ? "实时" : "重连中…"; }
  }
  document.addEventListener("htmx:sseOpen", function () { setState(true); });
  document.addEventListener("htmx:sseError", function () { setState(false); });
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    // Remember the last event id in the connect URL, so a reconnect catches up from there.
    var source = evt.target.closest("[sse-connect]");
    var id = evt.detail && evt.detail.lastEventId;
    if (source && id) {
      var url = new URL(source.getAttribute("sse-connect"), window.location.href);
      url.searchParams.set("since", id);
      source.setAttribute("sse-connect", url.pathname + url.search);
    }
  });
  document.addEventListener("htmx:sseMessage", function (evt) {
    var target = evt.target;
    // A row already shown (e.g. replayed after a reconnect) stays once: the copy already on the
    // page (lower down, since new rows go on top) wins over the replayed one.
    if (target.tagName === "TBODY") {
      var seen = {};
      Array.prototype.slice.call(target.children).reverse().forEach(function (row) {
        if (!row.id) { return; }
        if (seen[row.id]) { row.remove(); } else { seen[row.id] = true; }
      });
    }
    var keep = parseInt(target.getAttribute("data-keep") || "0", 10);
    if (keep > 0) { while (target.children.length > keep) { target.removeChild(target.lastElementChild); } }
    var empty = document.getElementById("stream-empty");
    if (empty) { empty.remove(); }
  });
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("[data-copy]");
    if (!btn) { return; }
    var input = document.getElementById(btn.getAttribute("data-copy"));
    input.select();
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value); } else { document.execCommand("copy"); }
    btn.textContent = "已复制";
  });
})();
