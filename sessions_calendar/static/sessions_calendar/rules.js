// Rules grid: the "N" field of a cell is only meaningful for "par effecteur" / "par officine"; disable it
// otherwise so that Tab skips it. Works without this script too (the server validates every cell).
(function () {
  "use strict";
  var LIMITED = ["per_effector", "per_pharmacy"];
  function sync(select) {
    var limit = document.getElementById(select.id.replace(/-mode$/, "-limit"));
    if (!limit) { return; }
    var needsLimit = LIMITED.indexOf(select.value) !== -1;
    limit.disabled = !needsLimit || select.disabled;
    if (!needsLimit) { limit.value = ""; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var selects = document.querySelectorAll(".sc-grid select[id$='-mode']");
    selects.forEach(function (select) {
      sync(select);
      select.addEventListener("change", function () { sync(select); });
    });
    var summary = document.getElementById("erreurs");
    if (summary) { summary.focus(); }
  });
})();
