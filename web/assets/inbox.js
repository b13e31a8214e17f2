// The sales inbox's optional browser notification: "Notify me of new
// sales-ready leads". The toggle asks for the permission when it is
// switched on and remembers the choice in this browser (localStorage);
// while it is on, a lead that appears in the live list (the server-sent
// updates of #inbox-live) and was not in it before is announced. Without
// JavaScript or the Notification API the toggle stays hidden.
(function () {
  "use strict";
  var KEY = "qualdial.inbox.notify";
  var box = document.getElementById("notify");
  var toggle = document.getElementById("notify-toggle");
  var hint = document.getElementById("notify-hint");
  var live = document.getElementById("inbox-live");
  if (!box || !toggle || !live) {
    return;
  }

  function stored() {
    try {
      return window.localStorage.getItem(KEY) === "on";
    } catch (e) {
      return false;
    }
  }
  function store(on) {
    try {
      window.localStorage.setItem(KEY, on ? "on" : "off");
    } catch (e) { /* private mode: the choice lasts this page */ }
  }
  function say(text) {
    if (hint) {
      hint.textContent = text;
      hint.hidden = !text;
    }
  }
  function supported() {
    return "Notification" in window;
  }
  function granted() {
    return supported() && window.Notification.permission === "granted";
  }

  box.hidden = false;
  toggle.checked = stored() && granted();
  toggle.addEventListener("change", function () {
    if (!toggle.checked) {
      store(false);
      say("");
      return;
    }
    if (!supported()) {
      toggle.checked = false;
      say("This browser cannot show notifications.");
      return;
    }
    // Older browsers answer requestPermission through a callback only:
    // the permission is read once it has been asked either way.
    var asked = granted() ? null : new Promise(function (done) {
      var p = window.Notification.requestPermission(done);
      if (p && p.then) {
        p.then(done, done);
      }
    });
    Promise.resolve(asked).then(function () {
      var on = granted();
      toggle.checked = on;
      store(on);
      say(on ? "You will be notified of new sales-ready leads while this page is open."
        : "Notifications are blocked for this site: allow them in the browser's site settings.");
    });
  });

  // The leads listed so far: a lead not among them is new.
  var known = {};
  function rows() {
    return live.querySelectorAll("tr[id^='lead-']");
  }
  Array.prototype.forEach.call(rows(), function (tr) { known[tr.id] = true; });

  function check() {
    var fresh = [];
    Array.prototype.forEach.call(rows(), function (tr) {
      if (!known[tr.id]) {
        known[tr.id] = true;
        var name = tr.querySelector("th a");
        fresh.push(name ? name.textContent.trim() : tr.id);
      }
    });
    if (!fresh.length || !toggle.checked || !granted()) {
      return;
    }
    var title = fresh.length === 1 ? "New sales-ready lead" : fresh.length + " new sales-ready leads";
    try {
      new window.Notification(title, { body: fresh.join(", "), tag: "qualdial-inbox" });
    } catch (e) { /* a browser that shows notifications only from a service worker */ }
  }
  document.body.addEventListener("htmx:sseMessage", check);
  document.body.addEventListener("htmx:afterSettle", check);
})();
