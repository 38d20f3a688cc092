// Home page: keeps "Fermeture dans …" current without reloading. The server renders the same text.
(function () {
  "use strict";
  var box = document.getElementById("compte-a-rebours");
  if (!box) { return; }
  var target = new Date(box.getAttribute("data-closes-at")).getTime();
  var out = box.querySelector("[data-countdown]");
  function render() {
    var minutes = Math.max(0, Math.floor((target - Date.now()) / 60000));
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    var parts = [];
    if (days) { parts.push(days + (days > 1 ? " jours" : " jour")); }
    if (hours) { parts.push(hours + " h"); }
    if (mins && !days) { parts.push(mins + " min"); }
    out.textContent = parts.length ? parts.join(" ") : (target > Date.now() ? "moins d'une minute" : "session fermée");
  }
  render();
  window.setInterval(render, 30000);
})();
