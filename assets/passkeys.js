// Latchkey passkey ceremonies: sign-up (navigator.credentials.create), log-in
// (navigator.credentials.get) from the button, and passkey autofill
// (conditional mediation on the email field), against the embedded provider's
// /passkeys/* endpoints, then a hand-over to the #session-form, which exchanges
// the session cookie for a server-side session. Adding a passkey on the account
// page runs here too, asked for by account.js (which holds that page's UI).
// Every page of the embedded provider loads this script (a swap can bring the
// login form anywhere); the login page loads little else, so keep it lean.
//
// While a prompt is open, #passkey-status says so (a polite live region) and
// the passkey buttons are disabled. Each outcome gets its own words in
// #passkey-error (role="alert"), with a way forward where there is one; a
// sign-up field error goes under its field (aria-invalid, aria-describedby)
// and focus moves there.
//
// Plain ES2020, no framework, no globals. All listeners are delegated on
// `document`, so they keep working after htmx swaps the login fragment in again.
(() => {
  "use strict";

  const MESSAGES = {
    noPasskey: "No passkey was used. This device may have none for this site.",
    notCreated: "The passkey was not created: the prompt was closed or timed out. Try again when you are ready.",
    exists: "This device already has a passkey for this account. Log in instead.",
    unsupported:
      "This browser has no passkey support. Use a current browser such as Chrome, Safari, Edge or Firefox.",
    network: "Could not reach the server. Check your connection and try again.",
    insecure:
      "Passkeys do not work at this address. Open the site at its configured address and try again.",
    generic: "Something went wrong with the passkey. Please try again.",
    waiting: "Waiting for your passkey…",
    otherDevice:
      "Is your passkey on your phone? Choose “Log in with a passkey”, then “Use a phone or tablet”, and scan the QR code with your phone.",
    newDevice:
      "On a new device? Choose “Log in with a passkey”, then “Use a phone or tablet”, and scan the QR code with the phone that has your passkey. Once you are in, you can add a passkey for this device.",
    notVerified:
      "Passkeys here need your device to check it is you: turn on a screen lock (PIN, fingerprint or face) on this device, or use your phone.",
  };

  const SIGNUP = 'form[data-passkey="signup"]';
  const LOGIN = 'button[data-passkey="login"]';

  /** An error whose message is already fit to show to the user; code and fields come from the server. */
  class UserError extends Error {
    constructor(message, code, fields) {
      super(message);
      this.name = "UserError";
      this.code = code || "";
      this.fields = fields && typeof fields === "object" ? fields : {};
    }
  }

  // ---- base64url <-> ArrayBuffer ------------------------------------------

  function fromBase64url(value) {
    const b64 = String(value).replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    const padded = b64 + "===".slice((b64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = ArrayBuffer.isView(buffer)
      ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      : new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Client extension results may hold binary values (prf, largeBlob): encode them.
  function jsonSafe(value) {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return toBase64url(value);
    if (Array.isArray(value)) return value.map(jsonSafe);
    if (value && typeof value === "object") {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
      return out;
    }
    return value;
  }

  function withBinaryIds(list) {
    return Array.isArray(list) ? list.map((c) => ({ ...c, id: fromBase64url(c.id) })) : undefined;
  }

  // ---- server calls -------------------------------------------------------

  async function postJSON(url, body) {
    let res;
    let text;
    try {
      res = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      text = await res.text();
    } catch (_) {
      throw new UserError(MESSAGES.network);
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === "string" && data.error.trim() ? data.error : MESSAGES.generic;
      throw new UserError(msg, data && data.code, data && data.fields);
    }
    return data;
  }

  function publicKeyFrom(data) {
    if (!data || typeof data.publicKey !== "object" || data.publicKey === null) {
      throw new UserError(MESSAGES.generic);
    }
    return data.publicKey;
  }

  // ---- ceremonies ---------------------------------------------------------

  // register runs a registration: begin (with body) → the browser's passkey prompt → finish.
  async function register(beginURL, body, finishURL) {
    const begin = await postJSON(beginURL, body);
    const pk = publicKeyFrom(begin);
    const publicKey = {
      ...pk,
      challenge: fromBase64url(pk.challenge),
      user: { ...pk.user, id: fromBase64url(pk.user.id) },
    };
    const exclude = withBinaryIds(pk.excludeCredentials);
    if (exclude) publicKey.excludeCredentials = exclude;

    setStatus(MESSAGES.waiting);
    const cred = await navigator.credentials.create({ publicKey });
    if (!cred) throw new UserError(MESSAGES.generic);
    const r = cred.response;
    let transports = [];
    if (typeof r.getTransports === "function") {
      try {
        transports = r.getTransports();
      } catch (_) {
        transports = [];
      }
    }
    await postJSON(finishURL, {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: jsonSafe(cred.getClientExtensionResults()),
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports,
      },
    });
  }

  function signUp(email, name) {
    return register("/passkeys/signup/begin", { email, name }, "/passkeys/signup/finish");
  }

  // logIn runs a log-in: from the button (mediation undefined) or as passkey
  // autofill (mediation "conditional", cancelled through signal).
  async function logIn(mediation, signal) {
    const begin = await postJSON(mediation === "conditional" ? "/passkeys/login/autofill" : "/passkeys/login/begin", {});
    const pk = publicKeyFrom(begin);
    const publicKey = { ...pk, challenge: fromBase64url(pk.challenge) };
    const allow = withBinaryIds(pk.allowCredentials);
    if (allow) publicKey.allowCredentials = allow;
    const options = { publicKey };
    if (mediation) options.mediation = mediation;
    if (signal) options.signal = signal;

    if (!mediation) setStatus(MESSAGES.waiting);
    const cred = await navigator.credentials.get(options);
    if (!cred) throw new UserError(MESSAGES.generic);
    if (mediation) {
      setBusy(true); // the person picked a passkey from autofill: the log-in is now under way
      setStatus(MESSAGES.waiting);
    }
    const r = cred.response;
    try {
      await postJSON("/passkeys/login/finish", {
        id: cred.id,
        rawId: toBase64url(cred.rawId),
        type: cred.type,
        authenticatorAttachment: cred.authenticatorAttachment || undefined,
        clientExtensionResults: jsonSafe(cred.getClientExtensionResults()),
        response: {
          clientDataJSON: toBase64url(r.clientDataJSON),
          authenticatorData: toBase64url(r.authenticatorData),
          signature: toBase64url(r.signature),
          userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined,
        },
      });
    } catch (err) {
      if (err instanceof UserError && err.code === "unknown_passkey") signalUnknown(pk.rpId, cred.id);
      throw err;
    }
  }

  // Tell the person's password manager that a passkey it offered is not known here (deleted, or from
  // another site's reset), so it stops offering it. Feature-detected; silent where absent.
  function signalUnknown(rpId, credentialId) {
    const PKC = window.PublicKeyCredential;
    if (!PKC || typeof PKC.signalUnknownCredential !== "function") return;
    PKC.signalUnknownCredential({ rpId: rpId || location.hostname, credentialId }).catch(() => {});
  }

  function handOver() {
    const form = document.getElementById("session-form");
    if (!form) throw new UserError(MESSAGES.generic);
    form.requestSubmit();
  }

  // ---- adding a passkey, asked for by account.js --------------------------

  // The account page's script (account.js, loaded only where there is an "Add a passkey" button) asks for
  // a new passkey with a cancelable "latchkey:add-passkey" event on document. The ceremony runs here, with
  // the others; detail.done(err) gets null once the passkey is added, otherwise the error (a UserError's
  // message is fit to show), and account.js shows the outcome.
  document.addEventListener("latchkey:add-passkey", (event) => {
    const done = event.detail && event.detail.done;
    if (typeof done !== "function") return;
    event.preventDefault(); // tells account.js that the request was taken
    const adding = supported()
      ? register("/account/passkeys/add/begin", {}, "/account/passkeys/add/finish")
      : Promise.reject(new UserError(MESSAGES.unsupported));
    adding.then(() => done(null), done);
  });

  // ---- passkey autofill (conditional mediation) ---------------------------

  let autofill = null; // the AbortController of the pending autofill request, if any

  function stopAutofill() {
    if (!autofill) return;
    const controller = autofill;
    autofill = null;
    const reason = new DOMException("replaced by another passkey prompt", "AbortError");
    controller.abort(reason);
  }

  async function startAutofill() {
    if (autofill || busy || !document.querySelector(LOGIN)) return;
    const PKC = window.PublicKeyCredential;
    if (!supported() || typeof PKC.isConditionalMediationAvailable !== "function") return;
    let available = false;
    try {
      available = await PKC.isConditionalMediationAvailable();
    } catch (_) {
      available = false;
    }
    if (!available || autofill || busy || !document.querySelector(LOGIN)) return;
    const controller = new AbortController();
    autofill = controller;
    try {
      await logIn("conditional", controller.signal);
      if (autofill !== controller) return;
      autofill = null;
      handOver();
    } catch (err) {
      if (autofill !== controller) return; // aborted for the button, or the page changed
      autofill = null;
      setBusy(false);
      setStatus("");
      if (err && (err.name === "AbortError" || err.name === "NotAllowedError")) return;
      if (err instanceof UserError) {
        showOutcome(err, "get");
      } else {
        console.error("passkey autofill failed:", err);
      }
    }
  }

  // ---- UI -----------------------------------------------------------------

  let busy = false;

  function setStatus(message) {
    const box = document.getElementById("passkey-status");
    if (box) box.textContent = message;
  }

  function setBusy(on) {
    busy = on;
    document.querySelectorAll(`${LOGIN}, ${SIGNUP} button[type="submit"]`).forEach((b) => {
      b.disabled = on;
      if (on) b.setAttribute("aria-busy", "true");
      else b.removeAttribute("aria-busy");
    });
  }

  function clearErrors() {
    const box = document.getElementById("passkey-error");
    if (box) box.replaceChildren();
    document.querySelectorAll(`${SIGNUP} [aria-invalid]`).forEach((input) => {
      input.removeAttribute("aria-invalid");
      const describedBy = (input.getAttribute("aria-describedby") || "")
        .split(/\s+/)
        .filter((id) => id && id !== `${input.id}-error`);
      if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
      else input.removeAttribute("aria-describedby");
    });
    document.querySelectorAll(`${SIGNUP} .field-error`).forEach((p) => {
      p.textContent = "";
      p.hidden = true;
    });
  }

  // showFieldErrors puts each message under its field and moves focus to the first; false when the page
  // has none of the fields named.
  function showFieldErrors(fields) {
    let first = null;
    for (const name of ["email", "name"]) {
      const message = fields[name];
      const input = document.getElementById(`signup-${name}`);
      const slot = document.getElementById(`signup-${name}-error`);
      if (!message || !input || !slot) continue;
      slot.textContent = message;
      slot.hidden = false;
      input.setAttribute("aria-invalid", "true");
      const describedBy = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (!describedBy.includes(slot.id)) describedBy.push(slot.id);
      input.setAttribute("aria-describedby", describedBy.join(" "));
      if (!first) first = input;
    }
    if (first) first.focus();
    return first !== null;
  }

  // showError writes message (and optional further paragraphs and action buttons) into the alert.
  function showError(message, extra, actions) {
    const box = document.getElementById("passkey-error");
    if (!box) return;
    const parts = [];
    for (const text of [message, ...(extra || [])]) {
      if (!text) continue;
      const p = document.createElement("p");
      p.textContent = text;
      parts.push(p);
    }
    if (actions && actions.length) {
      const p = document.createElement("p");
      p.className = "alert-actions";
      for (const a of actions) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link-button";
        b.dataset.passkeyAction = a.action;
        b.textContent = a.label;
        p.append(b);
      }
      parts.push(p);
    }
    box.replaceChildren(...parts);
  }

  const CREATE_ACCOUNT = { action: "signup", label: "Create an account" };
  const LOG_IN_INSTEAD = { action: "login", label: "Log in instead" };

  function showOutcome(err, ceremony) {
    const name = err && err.name;
    if (err instanceof UserError) {
      switch (err.code) {
        case "invalid_fields":
          if (showFieldErrors(err.fields)) return;
          break;
        case "email_taken":
          showError(err.message, [MESSAGES.newDevice], [LOG_IN_INSTEAD]);
          return;
        case "unknown_passkey":
          showError(err.message, [MESSAGES.otherDevice], [CREATE_ACCOUNT]);
          return;
        case "not_verified":
          showError(err.message, [MESSAGES.notVerified]);
          return;
      }
      showError(err.message);
      return;
    }
    if (name === "NotAllowedError") {
      if (ceremony === "get") showError(MESSAGES.noPasskey, [MESSAGES.otherDevice], [CREATE_ACCOUNT]);
      else showError(MESSAGES.notCreated);
      return;
    }
    if (name === "InvalidStateError" && ceremony === "create") {
      showError(MESSAGES.exists, [], [LOG_IN_INSTEAD]);
      return;
    }
    if (name === "SecurityError") {
      showError(MESSAGES.insecure);
      return;
    }
    showError(MESSAGES.generic);
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  }

  async function run(ceremony, work) {
    if (busy) return;
    clearErrors();
    if (!supported()) {
      showError(MESSAGES.unsupported);
      return;
    }
    stopAutofill();
    setBusy(true);
    let done = false;
    try {
      await work();
      done = true;
      setStatus("Logging you in…");
      handOver();
    } catch (err) {
      if (!(err instanceof UserError)) console.error("passkey " + ceremony + " failed:", err);
      setStatus("");
      showOutcome(err, ceremony);
    } finally {
      setBusy(false);
      if (!done) startAutofill();
    }
  }

  // Without passkey support: say so and disable the passkey buttons, on load
  // and whenever htmx puts new content into the page.
  function checkSupport() {
    if (supported()) return;
    showError(MESSAGES.unsupported);
    document.querySelectorAll(`${LOGIN}, ${SIGNUP} button`).forEach((b) => {
      b.disabled = true;
    });
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches(SIGNUP)) return;
    event.preventDefault();
    const email = String(new FormData(form).get("email") || "").trim();
    const name = String(new FormData(form).get("name") || "").trim();
    run("create", () => signUp(email, name));
  });

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const button = target.closest(LOGIN);
    if (button) {
      event.preventDefault();
      run("get", () => logIn());
      return;
    }
    const action = target.closest("[data-passkey-action]");
    if (!action) return;
    event.preventDefault();
    if (action.dataset.passkeyAction === "login") {
      run("get", () => logIn());
    } else if (action.dataset.passkeyAction === "signup") {
      const email = document.getElementById("signup-email");
      if (email) email.focus();
    }
  });

  // Logging out forgets every page htmx kept for Back (the server sends this event with the logout).
  document.addEventListener("latchkey:logged-out", () => {
    try {
      sessionStorage.removeItem("htmx-history-cache");
    } catch (_) {
      // storage disabled: nothing was kept
    }
  });

  // A page without the login (home, after the swap) ends a pending autofill request.
  document.addEventListener("htmx:beforeSwap", stopAutofill);

  function ready() {
    checkSupport();
    startAutofill();
  }
  document.addEventListener("htmx:load", ready);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
