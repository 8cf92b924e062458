/* rds: live updates over server-sent events, local times, confirmations.
   Plain JS, no build step. Every page works without it (minus live updates). */
(function () {
  "use strict";

  /* Step bars get their width from data-width (no inline styles: see the CSP). */
  function barWidths(root) {
    (root || document).querySelectorAll(".bar[data-width]").forEach(function (el) {
      el.style.width = parseFloat(el.dataset.width) + "%";
    });
  }

  function localTimes(root) {
    barWidths(root);
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.title = el.textContent;
        el.textContent = d.toLocaleString(undefined, {
          year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit"
        });
      }
    });
  }

  function moveProgress() {
    var now = Date.now() / 1000;
    document.querySelectorAll("progress[data-total]").forEach(function (bar) {
      var total = parseFloat(bar.dataset.total), started = parseFloat(bar.dataset.stepStarted);
      if (!total || !started) { return; }
      var done = parseFloat(bar.dataset.base) + Math.min(now - started, parseFloat(bar.dataset.stepMax));
      var pct = Math.max(1, Math.min(99, done / total * 100));
      if (pct > parseFloat(bar.value || 0)) { bar.value = pct; }
    });
  }

  function fromHtml(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function highestId(tbody) {
    var max = 0;
    tbody.querySelectorAll("tr[data-release-id]").forEach(function (tr) {
      max = Math.max(max, parseInt(tr.dataset.releaseId, 10));
    });
    return max;
  }

  function onRow(data) {
    var tbody = document.getElementById("board-rows");
    if (!tbody) { return; }
    var fresh = fromHtml(data.html);
    var old = document.getElementById("release-" + data.id);
    if (old) {
      old.replaceWith(fresh);
    } else if (data.insert && tbody.dataset.firstPage === "true" && data.id > highestId(tbody)) {
      tbody.insertBefore(fresh, tbody.firstElementChild);
      var empty = document.querySelector(".empty");
      if (empty) { empty.remove(); }
      var count = document.getElementById("release-count");
      if (count && !count.dataset.capped) {
        var total = parseInt(count.dataset.total, 10) + 1;
        count.dataset.total = total;
        count.textContent = total + (total === 1 ? " release" : " releases");
      }
    } else {
      return;
    }
    fresh.classList.add("flash-row");
    localTimes(fresh);
  }

  function onLog(data) {
    var log = document.getElementById("log");
    if (!log) { return; }
    log.insertAdjacentHTML("beforeend", data.html);
    var follow = document.getElementById("follow-log");
    if (!follow || follow.checked) { log.scrollTop = log.scrollHeight; }
  }

  function replaceById(id, html) {
    var old = document.getElementById(id);
    if (old) { var fresh = fromHtml(html); old.replaceWith(fresh); localTimes(fresh); }
  }

  function connect(url) {
    var state = document.getElementById("live-state");
    var source = new EventSource(url);
    function show(on) { if (state) { state.hidden = false; state.className = "live-state " + (on ? "on" : "off"); } }
    source.onopen = function () { show(true); };
    source.onerror = function () { show(false); };
    source.addEventListener("row", function (e) { onRow(JSON.parse(e.data)); });
    source.addEventListener("log", function (e) { onLog(JSON.parse(e.data)); });
    source.addEventListener("build", function (e) { replaceById("build-header", JSON.parse(e.data).html); });
    source.addEventListener("agents", function (e) { replaceById("agents-table", JSON.parse(e.data).html); });
    source.addEventListener("drift", function (e) { replaceById("drift-banners", JSON.parse(e.data).html); });
    source.addEventListener("servers", function (e) { replaceById("servers", JSON.parse(e.data).html); });
    source.addEventListener("reload", function () { source.close(); window.location.reload(); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { e.preventDefault(); return; }
    if (form.classList.contains("action") && !form.querySelector("input[name=next]")) {
      var next = document.createElement("input");
      next.type = "hidden"; next.name = "next"; next.value = location.pathname + location.search;
      form.appendChild(next);
    }
  });

  document.addEventListener("click", function (e) {
    var fav = e.target.closest && e.target.closest("a.fav[data-project]");
    var select = document.getElementById("release-project");
    if (fav && select) {
      e.preventDefault();
      select.value = fav.dataset.project;
      var details = document.getElementById("new-release");
      if (details) { details.open = true; }
      var comment = document.getElementById("release-comment");
      if (comment) { comment.focus(); }
    }
  });

  /* Filters apply as soon as one changes (no inline handlers: see the CSP). */
  document.addEventListener("change", function (e) {
    var select = e.target;
    if (select.matches && select.matches("form.filters select") && select.form) {
      select.form.submit();
    } else if (e.target.id === "show-gone") {
      document.getElementById("agents").classList.toggle("show-gone", e.target.checked);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    var log = document.getElementById("log");
    if (log) { log.scrollTop = log.scrollHeight; }
    setInterval(moveProgress, 1000);
    var url = document.body.dataset.stream;
    if (url && window.EventSource) { connect(url); }
  });
})();
