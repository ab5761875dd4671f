// Latchkey copy buttons (the user ID on the home page).
//
//   <code id="user-id-value">usr-…</code>
//   <button type="button" data-copy="user-id-value" data-copy-status="user-id-copy-status" hidden>…</button>
//   <span id="user-id-copy-status" role="status"></span>
//
// A button[data-copy] copies the text of the element whose id it names and writes "Copied" into the
// polite live region named by data-copy-status. The buttons are rendered `hidden`: without this script
// (or a browser that cannot copy) they stay hidden, and the text can still be selected by hand.
//
// Plain ES2020, no framework, no globals. The click listener is delegated on `document`, and new content
// swapped in by htmx is checked on htmx:load, so it keeps working after every swap.
(() => {
  "use strict";

  const BUTTON = "button[data-copy]";
  const SHOWN_FOR_MS = 4000;
  const timers = new WeakMap(); // status element -> timeout that clears it

  function canCopy() {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function" && window.isSecureContext) {
      return true;
    }
    try {
      return typeof document.queryCommandSupported === "function" && document.queryCommandSupported("copy");
    } catch (_) {
      return false;
    }
  }

  function reveal(root) {
    if (!canCopy()) return;
    const scope = root && typeof root.querySelectorAll === "function" ? root : document;
    scope.querySelectorAll(`${BUTTON}[hidden]`).forEach((b) => {
      b.hidden = false;
    });
    if (scope !== document && scope.matches && scope.matches(`${BUTTON}[hidden]`)) scope.hidden = false;
  }

  function selectContents(el) {
    const selection = window.getSelection();
    if (!selection) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  async function copy(source) {
    const text = source.textContent.trim();
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function" && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) {
        // permission refused or no user activation: try the old way below
      }
    }
    selectContents(source);
    try {
      return document.execCommand("copy");
    } catch (_) {
      return false;
    }
  }

  // say writes message into the live region: cleared first and written on the next frame, so copying
  // twice is announced twice; cleared again after a few seconds.
  function say(status, message) {
    if (!status) return;
    clearTimeout(timers.get(status));
    status.textContent = "";
    requestAnimationFrame(() => {
      status.textContent = message;
      timers.set(
        status,
        setTimeout(() => {
          status.textContent = "";
        }, SHOWN_FOR_MS)
      );
    });
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest(BUTTON) : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copy || "");
    if (!source) return;
    const status = document.getElementById(button.dataset.copyStatus || "");
    const ok = await copy(source);
    say(status, ok ? "Copied" : "Could not copy. The text is selected: copy it with your keyboard.");
    if (!ok) selectContents(source);
  });

  document.addEventListener("htmx:load", (event) => reveal(event.detail && event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => reveal(document));
  } else {
    reveal(document);
  }
})();
