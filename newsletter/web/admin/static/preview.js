/* The preview page's frames as tall as the email inside them (same origin, which the
   sandbox's allow-same-origin permits; the email itself runs no script). Without this
   file the frames keep their CSS height and scroll. */
(function () {
  "use strict";
  function fit(frame) {
    var doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    var height = Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0);
    if (height > 0) {
      frame.style.height = (height + 2) + "px";
      frame.dataset.fitted = "1";
    }
  }
  function all() { document.querySelectorAll("iframe.email-frame").forEach(fit); }
  document.querySelectorAll("iframe.email-frame").forEach(function (frame) {
    frame.addEventListener("load", function () { fit(frame); });
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit(frame);
  });
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(all, 100);
  });
})();
