/* Compose: the test/live band follows the radio choice before saving. */
(function () {
  "use strict";
  var band = document.querySelector(".mode-band");
  var radios = document.querySelectorAll('input[name="is_test"]');
  if (!band || !radios.length) { return; }
  var texts = {test: band.getAttribute("data-test-html"), live: band.getAttribute("data-live-html")};
  function update() {
    var checked = document.querySelector('input[name="is_test"]:checked');
    if (!checked || !texts.test) { return; }
    var live = checked.value === "live";
    band.className = "mode-band " + (live ? "mode-live" : "mode-test");
    band.innerHTML = live ? texts.live : texts.test;
    document.body.classList.toggle("mode-live", live);
    document.body.classList.toggle("mode-test", !live);
  }
  radios.forEach(function (r) { r.addEventListener("change", update); });
}());
