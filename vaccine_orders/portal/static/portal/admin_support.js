// Colour the whole row of an overdue request in the support queue (the cell carries the marker).
document.addEventListener("DOMContentLoaded", () => {
  for (const marker of document.querySelectorAll("#result_list .cv-support-overdue")) {
    marker.closest("tr")?.classList.add("cv-support-row-overdue");
  }
});
