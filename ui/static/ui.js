// The status page's only script: confirmations before actions, filters
// that apply as they change, and the page reloading itself. Everything
// works without it, only less conveniently: an action then asks for its
// confirmation on a page of its own.
"use strict";
(function () {
  // An action's form asks first; once confirmed it says so, and the
  // server runs it without asking again.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (!question) {
      return;
    }
    if (!window.confirm(question)) {
      ev.preventDefault();
      return;
    }
    var confirmed = form.querySelector("input[name=confirm]");
    if (confirmed) {
      confirmed.value = "yes";
    }
  });

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.getAttribute && el.getAttribute("data-autosubmit") && el.form) {
      el.form.submit();
    }
  });

  // Reload every data-refresh seconds, unless the page is hidden or the
  // operator is typing in the search box or choosing a filter.
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (seconds > 0) {
    window.setInterval(function () {
      var active = document.activeElement;
      if (document.hidden || (active && (active.tagName === "INPUT" || active.tagName === "SELECT"))) {
        return;
      }
      window.location.reload();
    }, seconds * 1000);
  }
})();
