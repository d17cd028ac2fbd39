/* Airlock queue page: countdowns, ordering and tidying of cards that htmx swaps in.
   Server pushes arrive over the htmx ws extension as out-of-band swaps; this file only keeps
   the page honest in between (an expired card stops accepting answers at its deadline even
   before the server says so) and resynchronises the list whenever the socket (re)connects. */
(function () {
  "use strict";

  var root = document.getElementById("queue");
  if (!root) return;
  var list = document.getElementById("queue-list");
  var baseTitle = document.title;
  // The server's clock decides deadlines; correct for a client clock that is off.
  var skew = Date.parse(root.dataset.serverNow) - Date.now();
  if (!isFinite(skew)) skew = 0;
  var LEAVE_AFTER_MS = 5000;
  var URGENT_MS = 2 * 60 * 1000;
  var arrivals = [];  // ids of pushed cards to highlight once they are in place
  var onPage = root.dataset.page === "escalation";  // an escalation's own page: one card, stays
  var liveInserts = root.dataset.liveInserts === "1";  // filtered or later pages: say "new", do not insert
  var opened = {};  // ids of rows expanded by this person, kept open across server swaps
  var picked = {};  // ids of rows selected for a batch, kept across server swaps (resyncs)
  var focusedId = null;  // the row the keyboard is on, refocused when a resync replaces it
  var countEl = document.getElementById("queue-count");
  // The badge is the true total (every page); rows on this page change it as they come and go.
  var offPage = countEl ? Number(countEl.dataset.total || 0) - pendingOnPage() : 0;

  function pendingOnPage() {
    return Array.prototype.filter.call(document.querySelectorAll("#queue-list > article.esc"),
      function (c) { return c.dataset.state === "pending"; }).length;
  }

  function now() { return Date.now() + skew; }
  function deadline(card) { return Date.parse(card.dataset.deadline); }
  function cards() { return Array.prototype.slice.call(list.querySelectorAll(":scope > article.esc")); }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }

  // The deadline passed: nobody can answer any more, whatever the server push is doing.
  function expireInBrowser(card) {
    card.dataset.state = "expired";
    card.classList.remove("state-pending");
    card.classList.add("state-expired");
    var countdown = card.querySelector(".countdown");
    if (countdown) countdown.innerHTML = '<span class="countdown-value">Expired</span>';
    card.querySelectorAll("button, input").forEach(function (el) { el.disabled = true; });
    card.querySelectorAll(".actions form").forEach(function (form) { form.hidden = true; });
    var actions = card.querySelector(".actions");
    if (actions && !actions.querySelector(".resolution")) {
      var note = document.createElement("p");
      note.className = "resolution outcome-expired";
      note.setAttribute("role", "status");
      note.innerHTML = "<b>Expired — treated as deny.</b> Nobody answered in time.";
      actions.appendChild(note);
    }
  }

  function tick() {
    var t = now();
    cards().forEach(function (card) {
      if (card.dataset.state !== "pending") return;
      var left = deadline(card) - t;
      if (left <= 0) { expireInBrowser(card); return; }
      var out = card.querySelector("[data-countdown]");
      if (out) out.textContent = clock(left);
      card.classList.toggle("urgent", left < URGENT_MS);
    });
  }

  // Most urgent first: a pushed card is appended, then moved up to its place.
  function order() {
    var all = cards();
    for (var i = 1; i < all.length; i++) {
      var d = deadline(all[i]);
      if (d >= deadline(all[i - 1])) continue;
      for (var j = 0; j < i; j++) {
        if (deadline(all[j]) > d) { list.insertBefore(all[i], all[j]); break; }
      }
      all = cards();
    }
  }

  // Resolved cards show their outcome for a moment, then leave.
  function scheduleLeaving(card) {
    if (onPage || card.dataset.leaving) return;
    card.dataset.leaving = "1";
    setTimeout(function () {
      card.classList.add("leaving");
      setTimeout(function () {
        var hadFocus = card.contains(document.activeElement);
        var next = card.nextElementSibling || card.previousElementSibling;
        card.remove();
        if (hadFocus && next) { next.setAttribute("tabindex", "-1"); next.focus(); }
        tidy();
      }, 400);
    }, LEAVE_AFTER_MS);
  }

  function tidy() {
    order();
    arrivals.splice(0).forEach(function (id) {
      var card = document.getElementById(id);
      if (!card) return;
      card.classList.add("arrived");
      setTimeout(function () { card.classList.remove("arrived"); }, 2500);
    });
    var pending = 0;
    cards().forEach(function (card) {
      if (card.dataset.state === "pending") pending += 1;
      // Rendered by the server as resolved (its push or a POST answer): let it go.
      else if (card.dataset.final === "1") scheduleLeaving(card);
    });
    var total = Math.max(0, offPage + pending);
    if (countEl) countEl.textContent = String(total);
    // The unfiltered first page gains and loses rows live: its "Showing" line follows the
    // badge (filtered and later pages keep the server's line; they say "new" instead).
    var shownEl = document.getElementById("queue-shown");
    if (shownEl && countEl && liveInserts && !onPage) {
      shownEl.innerHTML = total ? "Showing 1–" + pending + " of <b>" + total + "</b>" : "";
    }
    var empty = document.getElementById("queue-empty");
    if (empty) empty.hidden = cards().length > 0;
    if (!onPage) document.title = total ? "(" + total + ") " + baseTitle : baseTitle;
    cards().forEach(function (card) {
      if (onPage || opened[card.id]) expand(card, true);
      var pick = card.querySelector("input.pick");
      if (pick) pick.checked = !!picked[card.id];
    });
    var active = document.activeElement;
    if (focusedId && (!active || active === document.body)) {
      var again = document.getElementById(focusedId);
      if (again && again.querySelector(".esc-toggle")) again.querySelector(".esc-toggle").focus();
    }
    tick();
  }

  // Rows: one line each; expanded in place on demand (click, Enter), the whole page on "o".
  function expand(card, open) {
    var body = card.querySelector(".esc-body");
    var toggle = card.querySelector(".esc-toggle");
    if (!body) return;
    body.hidden = !open;
    card.classList.toggle("open", open);
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) opened[card.id] = true; else delete opened[card.id];
    if (open && card.dataset.more) loadDetails(card);
  }

  // The list renders compact rows: their progress and buttons, not their details. Expanding
  // one fetches its full card and moves in the details (who/what, reasons, params, history);
  // the row's own progress and form stay, so a comment being typed is not disturbed.
  function loadDetails(card) {
    var url = card.dataset.more;
    if (card.dataset.loading) return;
    card.dataset.loading = "1";
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      var current = document.getElementById(card.id);
      if (!current || !current.dataset.more) return;  // replaced meanwhile by a full card
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var full = holder.content.querySelector("article.esc");
      [["[data-more-lead]", ".esc-lead"], ["[data-more-context]", ".esc-context"]].forEach(function (pair) {
        var slot = current.querySelector(pair[0]), part = full && full.querySelector(pair[1]);
        if (slot && part) slot.replaceWith(part);
      });
      current.setAttribute("aria-labelledby", current.id + "-title");
      current.removeAttribute("aria-label");
      delete current.dataset.more;
    }).catch(function () {
      var slot = card.querySelector("[data-more-lead]");
      if (slot) slot.innerHTML = '<p class="flash flash-error" role="alert">Could not load the details. <a href="' + url.replace(/card$/, "") + '">Open its page</a></p>';
    }).finally(function () { delete card.dataset.loading; });
  }
  list.addEventListener("focusin", function (evt) {
    var card = evt.target.closest ? evt.target.closest("article.esc") : null;
    if (card && evt.target.classList.contains("esc-toggle")) focusedId = card.id;
  });
  list.addEventListener("change", function (evt) {
    if (!evt.target.classList.contains("pick")) return;
    var card = evt.target.closest("article.esc");
    if (evt.target.checked) picked[card.id] = true; else delete picked[card.id];
  });
  list.addEventListener("click", function (evt) {
    var toggle = evt.target.closest ? evt.target.closest(".esc-toggle") : null;
    if (!toggle) return;
    var card = toggle.closest("article.esc");
    if (!onPage) expand(card, card.querySelector(".esc-body").hidden);
  });

  // Approve asks first when the server says so (large amount or high risk): the amount is
  // in the question. htmx:confirm fires before every request; only marked buttons ask.
  document.body.addEventListener("htmx:confirm", function (evt) {
    var trigger = evt.detail.triggeringEvent;
    var button = trigger && trigger.submitter;
    var question = button && button.dataset ? button.dataset.confirm : "";
    if (!question) return;
    evt.preventDefault();
    if (window.confirm(question)) evt.detail.issueRequest(true);
  });
  var batch = document.getElementById("batch-form");
  if (batch) batch.addEventListener("submit", function (evt) {
    var picked = document.querySelectorAll("#queue-list input.pick:checked").length;
    var choice = evt.submitter ? evt.submitter.value : "";
    if (!picked) { evt.preventDefault(); window.alert("Select escalations first (x, or the boxes)."); return; }
    if (!window.confirm((choice === "approve" ? "Approve " : "Deny ") + picked + " selected escalation" + (picked > 1 ? "s" : "") + "?")) evt.preventDefault();
  });

  // Keyboard: j/k next/previous row, Enter expands (the row is a button), o opens the page,
  // a/d approve/deny the focused row (always after a confirmation), x selects it.
  function focusedCard() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("#queue-list > article.esc") : null;
  }
  document.addEventListener("keydown", function (evt) {
    if (onPage || evt.altKey || evt.ctrlKey || evt.metaKey) return;
    var tag = (evt.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    var all = cards(), card = focusedCard(), i = all.indexOf(card);
    var key = evt.key;
    if (key === "j" || key === "k") {
      var next = all[key === "j" ? Math.min(all.length - 1, i + 1) : Math.max(0, i - 1)] || all[0];
      if (next) next.querySelector(".esc-toggle").focus();
      evt.preventDefault();
    } else if (card && key === "o") {
      var link = card.querySelector(".esc-open");
      if (link) window.location.href = link.href;
    } else if (card && key === "x") {
      var pick = card.querySelector("input.pick");
      if (pick) {
        pick.checked = !pick.checked;
        if (pick.checked) picked[card.id] = true; else delete picked[card.id];
      }
    } else if (card && (key === "a" || key === "d")) {
      var button = card.querySelector(key === "a" ? ".btn-approve" : ".btn-deny");
      if (!button || button.disabled) return;
      expand(card, true);
      evt.preventDefault();
      var what = key === "a" ? (button.dataset.confirm || button.textContent.trim() + "?") : "Deny " + card.querySelector(".action").textContent + " by " + card.querySelector(".agent").textContent + "?";
      if (!window.confirm(what)) return;
      var form = button.form;
      if (window.htmx) htmx.ajax("POST", form.getAttribute("hx-post"), { source: form, target: "#" + card.id, swap: "outerHTML", values: { choice: button.value, comment: form.querySelector(".comment").value } });
    }
  });

  function setLive(state, text) {
    var live = document.getElementById("live");
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  }

  // A pushed card that is already on the page (e.g. fetched by a resync) is not added twice.
  document.body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var fragment = evt.detail.fragment;
    if (!fragment || evt.detail.target !== list) return;
    var incoming = fragment.querySelector ? fragment.querySelector("article.esc") : null;
    if (!incoming) return;
    if (document.getElementById(incoming.id)) evt.detail.shouldSwap = false;
    else if (onPage || !liveInserts) {
      // Filtered, a later page, or an escalation's page: say so instead of inserting.
      evt.detail.shouldSwap = false;
      var notice = document.getElementById("queue-new");
      if (notice) notice.hidden = false;
    } else arrivals.push(incoming.id);
  });

  // A vote that did not reach the server, or failed there, must never look recorded.
  function voteFailed(evt) {
    var form = evt.detail && evt.detail.elt;
    var actions = form && form.closest ? form.closest(".actions") : null;
    if (!actions) return;
    var flash = actions.querySelector(".flash-send");
    if (!flash) {
      flash = document.createElement("p");
      flash.className = "flash flash-error flash-send";
      flash.setAttribute("role", "alert");
      actions.insertBefore(flash, actions.firstChild);
    }
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status === 401) {
      flash.innerHTML = 'Not recorded — sign in again. <a href="/accounts/login/?next=' + encodeURIComponent(location.pathname) + '">Sign in</a>';
    } else {
      flash.textContent = "Not recorded: the server could not be reached or failed. Try again.";
    }
  }
  document.body.addEventListener("htmx:sendError", voteFailed);
  document.body.addEventListener("htmx:responseError", voteFailed);

  // The catch-up fetch after a (re)connect has landed (tests wait for it before typing keys).
  document.body.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail.target === list) root.dataset.synced = "1";
  });
  ["htmx:afterSettle", "htmx:oobAfterSwap", "htmx:wsAfterMessage"].forEach(function (name) {
    document.body.addEventListener(name, tidy);
  });

  document.body.addEventListener("htmx:wsOpen", function () {
    setLive("open", "Live");
    // Catch up on whatever happened while the socket was not listening (page load, outage).
    if (window.htmx && root.dataset.cardsUrl) htmx.ajax("GET", root.dataset.cardsUrl, { target: "#queue-list", swap: "innerHTML" });
  });
  document.body.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail && evt.detail.event ? evt.detail.event.code : 0;
    if (code === 4401 || code === 1000) setLive("closed", "Signed out — reload the page");
    else setLive("connecting", "Reconnecting…");
  });
  document.body.addEventListener("htmx:wsError", function () { setLive("connecting", "Reconnecting…"); });

  tidy();
  setTimeout(function loop() { tick(); setTimeout(loop, 1000 - (now() % 1000)); }, 1000 - (now() % 1000));
})();
