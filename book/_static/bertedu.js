// bertedu book: small fixes loaded on every page (added by tools/bertedu_sphinx.py).
(function () {
  "use strict";
  // The widget manager (@jupyter-widgets/html-manager 1.x) typesets widget labels with the MathJax 2 call
  // MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3, which has no Hub, so
  // the call threw and stopped the widget's rendering. Forward it to MathJax 3's typesetPromise.
  function addHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) { return; }
    mj.Hub = {
      Queue: function (job) {
        var el = job && job[2];
        var m = window.MathJax;
        if (m && typeof m.typesetPromise === "function") {
          m.typesetPromise(el ? [el] : undefined).catch(function () {});
        }
      }
    };
  }
  addHub();                                   // the configuration object, before MathJax starts
  document.addEventListener("DOMContentLoaded", addHub);   // MathJax 3 replaced window.MathJax by then
  window.addEventListener("load", addHub);
})();
