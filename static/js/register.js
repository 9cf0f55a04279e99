// Progressive enhancement only: the form works without this file.
// Refill the region list when the country changes; focus the error summary.
(function () {
  "use strict";
  var country = document.getElementById("id_presence-country");
  var region = document.getElementById("id_presence-region");
  if (country && region) {
    country.addEventListener("change", function () {
      fetch("/regions/" + encodeURIComponent(country.value || "-") + "/")
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var first = region.options[0];
          region.innerHTML = "";
          region.appendChild(first);
          data.regions.forEach(function (pair) {
            var option = document.createElement("option");
            option.value = pair[0];
            option.textContent = pair[1];
            region.appendChild(option);
          });
        })
        .catch(function () { /* keep the list we have; the server checks anyway */ });
    });
  }
  var errors = document.getElementById("errors");
  if (errors) { errors.focus(); }
})();
