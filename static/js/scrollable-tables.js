// A table wider than the screen scrolls sideways (DSFR): keyboard users must be able to reach it to scroll it
// (RGAA 7.3, WCAG 2.1.1; axe "scrollable-region-focusable"). Each scrolling table becomes a tab stop, named by its
// caption; a table that fits gets none. Run after DSFR's own script, and again when the window is resized.
(function () {
  "use strict";
  var ADDED = "data-cv-scroll-focus";
  function update() {
    document.querySelectorAll(".fr-table table, .fr-table__container").forEach(function (element) {
      var scrolls = element.scrollWidth > element.clientWidth + 1;
      if (scrolls && !element.hasAttribute("tabindex")) {
        element.setAttribute("tabindex", "0");
        element.setAttribute(ADDED, "");
      } else if (!scrolls && element.hasAttribute(ADDED)) {
        element.removeAttribute("tabindex");
        element.removeAttribute(ADDED);
      }
    });
  }
  var pending = null;
  window.addEventListener("load", function () { update(); window.requestAnimationFrame(update); });
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(update, 200);
  });
})();
