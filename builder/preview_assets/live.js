// Live reload for `decks preview --serve`: added to each page by the server, never to the site on disk.
// It asks the server for the build's state; a new good build reloads the page, and while the project
// has errors they show on top of the last good cards. Error text is set as text, never as markup.
(function () {
  "use strict";
  var me = document.currentScript;
  var seen = me && me.dataset.generation !== undefined ? Number(me.dataset.generation) : null;
  var box = null;

  function show(errors) {
    if (!errors) {
      if (box) { box.remove(); box = null; }
      return;
    }
    if (!box) {
      box = document.createElement("div");
      box.id = "decks-errors";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;left:0;right:0;top:0;z-index:2147483647;max-height:60vh;overflow:auto;" +
        "margin:0;padding:0.8em 1.2em;background:#fff5f5;color:#8b0000;border-bottom:3px solid #d70015;" +
        "font:13px/1.45 ui-monospace,Menlo,Consolas,monospace;box-shadow:0 2px 12px rgba(0,0,0,.25)";
      var title = document.createElement("strong");
      title.textContent = "The project has errors; the cards below are from the last good build.";
      var pre = document.createElement("pre");
      pre.style.cssText = "margin:0.5em 0 0;white-space:pre-wrap";
      box.appendChild(title);
      box.appendChild(pre);
      document.body.appendChild(box);
    }
    box.querySelector("pre").textContent = errors;
  }

  function poll() {
    fetch("/__decks/state", { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (seen !== null && state.generation !== seen && !state.errors) {
          window.location.reload();
          return;
        }
        seen = state.generation;
        show(state.errors);
        setTimeout(poll, 400);
      })
      .catch(function () { setTimeout(poll, 1500); }); // the server stopped, or is restarting
  }
  poll();
})();
