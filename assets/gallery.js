// The component gallery (/dev/components, dev mode only): fits each state's frame to the height of its
// page, so no frame scrolls and every state is seen whole. The frames are same-origin pages.
//
// Plain ES2020, no framework, no globals.
(() => {
  "use strict";

  function fit(frame) {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    // Shrink first: the page's body is at least as tall as its frame (min-height: 100vh).
    frame.style.height = "0px";
    frame.style.height = doc.documentElement.scrollHeight + "px";
  }

  function watch(frame) {
    frame.addEventListener("load", () => fit(frame));
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit(frame);
  }

  document.querySelectorAll("iframe[data-gallery-frame]").forEach(watch);
})();
