// Order grid: "Tout développer" / "Tout réduire", and one submission only for "Valider".
// Everything works without this file: it only adds comfort.
(function () {
  "use strict";
  var toggles = document.querySelector("[data-cv-toggles]");
  if (toggles) {
    toggles.hidden = false;
    var setAll = function (open) {
      document.querySelectorAll("details.cv-product").forEach(function (d) { d.open = open; });
    };
    toggles.querySelector("[data-cv-expand]").addEventListener("click", function () { setAll(true); });
    toggles.querySelector("[data-cv-collapse]").addEventListener("click", function () { setAll(false); });
  }
  // A double click on "Valider" must not send two requests (the server is idempotent anyway).
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (button && button.hasAttribute("data-cv-once")) {
        if (form.dataset.cvSent) { event.preventDefault(); return; }
        form.dataset.cvSent = "1";
        button.setAttribute("aria-disabled", "true");
      }
    });
  });
})();
