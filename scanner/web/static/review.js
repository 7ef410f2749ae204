// Keyboard shortcuts on the review page: P pass, F fail (choose a reason first), R recapture,
// O face boxes on/off, N the next item. Keys typed into the note or a list are left alone.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("decide-form");
  var reason = document.getElementById("reason");
  function click(id) { var b = document.getElementById(id); if (b) { b.click(); } }
  function fail() {
    if (!reason) { return; }
    if (reason.value) { click("decide-fail"); } else { reason.focus(); }
  }
  if (reason) {
    reason.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && reason.value) { ev.preventDefault(); click("decide-fail"); }
      if ((ev.key === "f" || ev.key === "F") && reason.value) { ev.preventDefault(); click("decide-fail"); }
      if (ev.key === "Escape") { reason.blur(); }
    });
  }
  if (form) {
    form.addEventListener("submit", function (ev) {
      var chosen = ev.submitter ? ev.submitter.value : "";
      if (chosen === "fail" && reason && !reason.value) { ev.preventDefault(); reason.focus(); }
    });
  }
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (ev.ctrlKey || ev.metaKey || ev.altKey || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    var key = ev.key.toLowerCase();
    if (key === "o") { document.body.classList.toggle("no-overlay"); return; }
    if (key === "n") { var next = document.getElementById("nav-next"); if (next) { window.location.href = next.href; } return; }
    if (!form) { return; }
    if (key === "p") { ev.preventDefault(); click("decide-pass"); }
    else if (key === "r") { ev.preventDefault(); click("decide-recapture"); }
    else if (key === "f") { ev.preventDefault(); fail(); }
  });
});
