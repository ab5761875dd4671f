// Latchkey page behaviour shared by both modes (embedded provider and Corbado):
// keeping keyboard and screen-reader users oriented after every htmx swap.
//
// Each fragment's root carries data-page-title (the document title for that page) and, when something
// happened, data-announce (what a screen reader should hear: "Logged in as Ada", "Logged out"). After
// htmx swaps a fragment into <main id="app">, this script sets the title, moves focus to the new page's
// heading and writes the announcement into the polite live region #announcer, which lives outside #app
// so it survives the swap.
//
// Plain ES2020, no framework, no globals.
(() => {
  "use strict";

  function announce(message) {
    const region = document.getElementById("announcer");
    if (!region || !message) return;
    // Clear first, then write on the next frame: the same words twice are announced twice.
    region.textContent = "";
    requestAnimationFrame(() => {
      region.textContent = message;
    });
  }

  function orient() {
    const app = document.getElementById("app");
    if (!app) return;
    const root = app.querySelector("[data-page-title]");
    if (root && root.dataset.pageTitle) document.title = root.dataset.pageTitle;
    // data-focus names the element to focus instead of the page heading (the section an action changed).
    const focusID = root && root.dataset.focus;
    const heading = (focusID && document.getElementById(focusID)) || app.querySelector("h1");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
    announce(root ? root.dataset.announce : "");
  }

  document.addEventListener("htmx:afterSettle", (event) => {
    const target = event.detail && event.detail.target;
    if (target && target.id === "app") orient();
  });

  // Other scripts (the passkey ceremonies) announce through the same region.
  document.addEventListener("latchkey:announce", (event) => {
    announce(event.detail && event.detail.message);
  });
})();
