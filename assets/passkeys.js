// Latchkey passkey ceremonies: sign-up (navigator.credentials.create) and
// log-in (navigator.credentials.get) against the embedded provider's
// /passkeys/* endpoints, then a hand-over to the #session-form, which exchanges
// the session cookie for a server-side session.
//
// Plain ES2020, no framework, no globals. All listeners are delegated on
// `document`, so they keep working after htmx swaps the login fragment in again.
(() => {
  "use strict";

  const MESSAGES = {
    cancelled: "You cancelled the passkey prompt, or it timed out. Try again when you are ready.",
    exists: "This device already has a passkey for this account. Log in instead.",
    unsupported:
      "This browser has no passkey support. Use a current browser such as Chrome, Safari, Edge or Firefox.",
    network: "Could not reach the server. Check your connection and try again.",
    insecure:
      "Passkeys do not work at this address. Open the site at its configured address and try again.",
    generic: "Something went wrong with the passkey. Please try again.",
  };

  const SIGNUP = 'form[data-passkey="signup"]';
  const LOGIN = 'button[data-passkey="login"]';

  /** An error whose message is already fit to show to the user. */
  class UserError extends Error {}

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
      throw new UserError(msg);
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

  async function signUp(email, name) {
    const begin = await postJSON("/passkeys/signup/begin", { email, name });
    const pk = publicKeyFrom(begin);
    const publicKey = {
      ...pk,
      challenge: fromBase64url(pk.challenge),
      user: { ...pk.user, id: fromBase64url(pk.user.id) },
    };
    const exclude = withBinaryIds(pk.excludeCredentials);
    if (exclude) publicKey.excludeCredentials = exclude;

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
    await postJSON("/passkeys/signup/finish", {
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

  async function logIn() {
    const begin = await postJSON("/passkeys/login/begin", {});
    const pk = publicKeyFrom(begin);
    const publicKey = { ...pk, challenge: fromBase64url(pk.challenge) };
    const allow = withBinaryIds(pk.allowCredentials);
    if (allow) publicKey.allowCredentials = allow;
    const options = { publicKey };
    if (typeof begin.mediation === "string" && begin.mediation) options.mediation = begin.mediation;

    const cred = await navigator.credentials.get(options);
    if (!cred) throw new UserError(MESSAGES.generic);
    const r = cred.response;
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
  }

  function handOver() {
    const form = document.getElementById("session-form");
    if (!form) throw new UserError(MESSAGES.generic);
    form.requestSubmit();
  }

  // ---- UI -----------------------------------------------------------------

  function showError(message) {
    const box = document.getElementById("passkey-error");
    if (box) box.textContent = message;
  }

  function messageFor(err, ceremony) {
    if (err instanceof UserError) return err.message;
    const name = err && err.name;
    if (name === "NotAllowedError") return MESSAGES.cancelled;
    if (name === "InvalidStateError" && ceremony === "create") return MESSAGES.exists;
    if (name === "SecurityError") return MESSAGES.insecure;
    return MESSAGES.generic;
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  }

  function setBusy(button, busy) {
    if (!button) return;
    button.disabled = busy;
    if (busy) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  async function run(button, ceremony, work) {
    if (button && button.getAttribute("aria-busy") === "true") return;
    showError("");
    if (!supported()) {
      showError(MESSAGES.unsupported);
      return;
    }
    setBusy(button, true);
    try {
      await work();
      handOver();
    } catch (err) {
      if (!(err instanceof UserError)) console.error("passkey " + ceremony + " failed:", err);
      showError(messageFor(err, ceremony));
    } finally {
      setBusy(button, false);
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
    const button =
      (event.submitter instanceof HTMLButtonElement && event.submitter) ||
      form.querySelector('button[type="submit"], button:not([type])');
    const email = String(new FormData(form).get("email") || "").trim();
    const name = String(new FormData(form).get("name") || "").trim();
    run(button, "create", () => signUp(email, name));
  });

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(LOGIN) : null;
    if (!button) return;
    event.preventDefault();
    run(button, "get", logIn);
  });

  // Logging out forgets every page htmx kept for Back (the server sends this event with the logout).
  document.addEventListener("latchkey:logged-out", () => {
    try {
      sessionStorage.removeItem("htmx-history-cache");
    } catch (_) {
      // storage disabled: nothing was kept
    }
  });

  document.addEventListener("htmx:load", checkSupport);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", checkSupport);
  } else {
    checkSupport();
  }
})();
