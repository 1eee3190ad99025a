// Keyboard shortcuts for the judge page: a/1 = A better, t/2 = tie, b/3 = B better, n/4 = both bad,
// s/5 = skip, f = tick or untick the flag.
// The form works without this file; it only clicks the matching button.
(function () {
  "use strict";
  var keys = { a: "btn-a", "1": "btn-a", t: "btn-tie", "2": "btn-tie", b: "btn-b", "3": "btn-b",
               n: "btn-both-bad", "4": "btn-both-bad", s: "btn-skip", "5": "btn-skip", f: "flag" };
  var form = document.getElementById("verdict-form");
  if (!form) { return; }
  var sent = false;
  form.addEventListener("submit", function (event) {
    // one submission per page: a double click or a held key must not post twice
    if (sent) { event.preventDefault(); return; }
    sent = true;
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) { return; }
    var id = keys[event.key.toLowerCase()];
    if (!id) { return; }
    event.preventDefault();
    var button = document.getElementById(id);
    if (id === "flag") { button.checked = !button.checked; return; }
    button.classList.add("pressed");
    button.click();
  });
})();
