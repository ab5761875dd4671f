// Latchkey page behaviour shared by both modes (embedded provider and Corbado):
// keeping keyboard and screen-reader users oriented after every htmx swap, and
// loading the scripts of content that needs them.
//
// Each fragment's root carries data-page-title (the document title for that page) and, when something
// happened, data-announce (what a screen reader should hear: "Logged in as Ada", "Logged out"). After
// htmx swaps a fragment into <main id="app">, this script sets the title, moves focus to the new page's
// heading and writes the announcement into the polite live region #announcer, which lives outside #app
// so it survives the swap.
//
// It also loads the scripts that only some content needs, so the login page loads none of them: an
// element names them in data-uses ("copy", "account"), and <body> gives their URLs (data-script-copy,
// data-script-account). Each is loaded once, when such content is in the page or is swapped in. What such
// a script brings to life is rendered hidden until the script shows it, so it is never used too early.
//
// Plain ES2020, no framework, no globals.
(() => {
  "use strict";

  const nonce = document.currentScript ? document.currentScript.nonce : "";
  const loaded = new Set();

  // load adds a script tag for each script named in a data-uses of the page that it does not have yet.
  function load() {
    for (const el of document.querySelectorAll("[data-uses]")) {
      for (const name of el.dataset.uses.split(" ")) {
        const src = document.body.getAttribute("data-script-" + name);
        if (!src || loaded.has(src)) continue;
        loaded.add(src);
        const script = document.createElement("script");
        script.src = src;
        script.nonce = nonce;
        document.head.append(script);
      }
    }
  }

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

  document.addEventListener("htmx:load", load);
  load(); // a deferred script: the document is parsed

  // Other scripts (the passkey ceremonies) announce through the same region.
  document.addEventListener("latchkey:announce", (event) => {
    announce(event.detail && event.detail.message);
  });
})();
