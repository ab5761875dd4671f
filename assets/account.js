// Latchkey account page (embedded provider): the "Add a passkey" button, and the WebAuthn Signal API
// telling the person's password manager which passkeys this site still accepts.
//
//   <button type="button" data-passkey="add" data-uses="account" hidden>Add a passkey</button>
//   <p id="account-passkey-status" role="status"></p>   <div id="account-passkey-error" role="alert"></div>
//   <div hidden data-passkey-signal data-uses="account" data-rp-id=… data-user-id=… data-credential-ids=…></div>
//
// Loaded only on pages that have such content: by ui.js, which loads the scripts named in data-uses. The
// button is rendered hidden and shown by this script, so it is never pressed before it works. The
// ceremony itself runs in passkeys.js (every page of the embedded provider has it), asked for with a
// "latchkey:add-passkey" event; this script shows the outcome, shows the new list and says what happened.
//
// Plain ES2020, no framework, no globals. Listeners are delegated on `document`, and new content swapped
// in by htmx is handled on htmx:load, so it keeps working after every swap.
(() => {
  "use strict";

  const ADD = 'button[data-passkey="add"]';

  // addPasskey asks passkeys.js for a new passkey; it resolves to "" once one is added, otherwise to the
  // words to show.
  function addPasskey() {
    return new Promise((resolve) => {
      const done = (err) => resolve(err ? message(err) : "");
      const request = new CustomEvent("latchkey:add-passkey", { cancelable: true, detail: { done } });
      if (document.dispatchEvent(request)) {
        // Nobody took the request: the passkey script is missing (it failed to load).
        resolve("Something went wrong with the passkey. Reload the page and try again.");
      }
    });
  }

  // message is what the person reads when adding a passkey failed with err.
  function message(err) {
    switch (err && err.name) {
      case "UserError": // passkeys.js's own: the server's or its words, fit to show
        return err.message;
      case "NotAllowedError":
        return "The passkey was not created: the prompt was closed or timed out. Try again when you are ready.";
      case "InvalidStateError":
        return "This device already has a passkey for your account.";
    }
    console.error("adding a passkey failed:", err);
    return "Something went wrong with the passkey. Please try again.";
  }

  async function runAdd(button) {
    const status = document.getElementById("account-passkey-status");
    const box = document.getElementById("account-passkey-error");
    if (button.disabled) return;
    if (box) box.replaceChildren();
    button.disabled = true;
    if (status) status.textContent = "Waiting for your passkey…";
    try {
      const message = await addPasskey();
      if (status) status.textContent = "";
      if (message) {
        if (box) box.textContent = message;
        return;
      }
      // Show the new list (the server renders it), then say what happened and keep focus on the section.
      if (window.htmx) {
        await window.htmx.ajax("GET", "/home", { target: "#app", swap: "innerHTML" });
      } else {
        location.reload();
        return;
      }
      const heading = document.getElementById("passkeys-heading");
      if (heading) heading.focus();
      document.dispatchEvent(new CustomEvent("latchkey:announce", { detail: { message: "Passkey added" } }));
    } catch (err) {
      console.error("showing the new passkey failed:", err);
      location.reload();
    } finally {
      button.disabled = false;
    }
  }

  // Tell the person's password manager which passkeys this site still accepts (so it drops deleted ones)
  // and the account's current name. Feature-detected; silent where the Signal API is absent.
  function signalAccount() {
    const el = document.querySelector("[data-passkey-signal]");
    const PKC = window.PublicKeyCredential;
    if (!el || !PKC) return;
    const rpId = el.dataset.rpId || location.hostname;
    const userId = el.dataset.userId;
    if (!userId) return;
    if (typeof PKC.signalAllAcceptedCredentials === "function") {
      const allAcceptedCredentialIds = (el.dataset.credentialIds || "").split(" ").filter(Boolean);
      PKC.signalAllAcceptedCredentials({ rpId, userId, allAcceptedCredentialIds }).catch(() => {});
    }
    if (typeof PKC.signalCurrentUserDetails === "function") {
      PKC.signalCurrentUserDetails({ rpId, userId, name: el.dataset.name || "", displayName: el.dataset.displayName || "" }).catch(
        () => {},
      );
    }
  }

  // ready shows the add buttons and signals the account, in the page or in what htmx just swapped in.
  function ready(root) {
    const scope = root && typeof root.querySelectorAll === "function" ? root : document;
    scope.querySelectorAll(`${ADD}[hidden]`).forEach((b) => {
      b.hidden = false;
    });
    if (scope !== document && scope.matches && scope.matches(`${ADD}[hidden]`)) scope.hidden = false;
    const signal = "[data-passkey-signal]";
    if (scope.querySelector(signal) || (scope !== document && scope.matches && scope.matches(signal))) signalAccount();
  }

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(ADD) : null;
    if (!button) return;
    event.preventDefault();
    runAdd(button);
  });

  document.addEventListener("htmx:load", (event) => ready(event.detail && event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => ready(document));
  } else {
    ready(document);
  }
})();
