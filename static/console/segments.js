/* Live SMS segment counter, a mirror of alerts/segments.py (the server is authoritative).
   Any <textarea data-segments="ID"> gets its counts written into the element with that id. */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "\f^{}\\[~]|€";

  function count(text) {
    var chars = Array.from(text), gsm = true, i;
    for (i = 0; i < chars.length; i++) {
      if (BASIC.indexOf(chars[i]) < 0 && EXT.indexOf(chars[i]) < 0) { gsm = false; break; }
    }
    var widths = chars.map(function (ch) {
      if (gsm) { return EXT.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    var units = widths.reduce(function (a, b) { return a + b; }, 0), segments = 0;
    if (units > 0 && units <= single) { segments = 1; }
    else if (units > single) {
      var used = 0; segments = 1;
      widths.forEach(function (w) { if (used + w > part) { segments++; used = 0; } used += w; });
    }
    return {encoding: gsm ? "GSM-7" : "UCS-2", characters: chars.length, units: units, segments: segments,
            perSegment: segments <= 1 ? single : part};
  }

  function update(area) {
    var out = document.getElementById(area.getAttribute("data-segments"));
    if (!out) { return; }
    var c = count(area.value), recipients = parseInt(area.getAttribute("data-recipients") || "0", 10);
    var fmt = out.getAttribute("data-format") ||
      "%(encoding)s · %(characters)s characters · %(segments)s segment(s)";
    var text = fmt.replace("%(encoding)s", c.encoding).replace("%(characters)s", c.characters)
      .replace("%(segments)s", c.segments).replace("%(total)s", (c.segments * recipients).toLocaleString());
    out.textContent = text;
    out.classList.toggle("ucs2", c.encoding === "UCS-2");
  }

  document.querySelectorAll("textarea[data-segments]").forEach(function (area) {
    area.addEventListener("input", function () { update(area); });
    update(area);
  });
  window.consoleSegments = {count: count};
}());
