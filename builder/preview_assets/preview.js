// Search and tag filter on the index, "show all answers" on topic pages. Plain JavaScript, works offline.
(function () {
  "use strict";

  function setupIndex() {
    var search = document.getElementById("search");
    var tagSelect = document.getElementById("tag");
    if (!search || !tagSelect) return;
    var hits = Array.prototype.slice.call(document.querySelectorAll("#entries .pv-hit"));
    var rows = Array.prototype.slice.call(document.querySelectorAll("#topics tbody tr"));
    var count = document.getElementById("count");
    var none = document.getElementById("no-results");

    function apply() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var tag = tagSelect.value;
      var perTopic = {};
      var shown = 0;
      hits.forEach(function (hit) {
        var text = hit.getAttribute("data-text");
        var tags = (hit.getAttribute("data-tags") || "").split(" ");
        var ok = words.every(function (w) { return text.indexOf(w) !== -1; }) &&
          (!tag || tags.indexOf(tag) !== -1);
        hit.hidden = !ok;
        if (ok) {
          shown += 1;
          var topic = hit.getAttribute("data-topic");
          perTopic[topic] = (perTopic[topic] || 0) + 1;
        }
      });
      var filtering = words.length > 0 || tag !== "";
      document.body.classList.toggle("pv-filtering", filtering);
      rows.forEach(function (row) {
        var n = perTopic[row.getAttribute("data-topic")] || 0;
        row.querySelector(".pv-match").textContent = String(n);
        row.hidden = filtering && n === 0;
      });
      count.textContent = shown + " of " + hits.length + " entries";
      none.hidden = shown !== 0;
    }

    function fromHash() {
      var match = /^#tag=(.*)$/.exec(window.location.hash);
      if (match) tagSelect.value = decodeURIComponent(match[1]);
    }

    search.addEventListener("input", apply);
    tagSelect.addEventListener("change", apply);
    window.addEventListener("hashchange", function () { fromHash(); apply(); });
    fromHash();
    apply();
  }

  function setupTopic() {
    var button = document.getElementById("reveal-all");
    if (!button) return;
    button.addEventListener("click", function () {
      var answers = document.querySelectorAll("details.pv-answer");
      var open = button.getAttribute("data-open") !== "true";
      Array.prototype.forEach.call(answers, function (d) { d.open = open; });
      button.setAttribute("data-open", String(open));
      button.textContent = open ? "Hide all answers" : "Show all answers";
    });
  }

  setupIndex();
  setupTopic();
})();
