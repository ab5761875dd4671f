// Latchkey's glue for Corbado mode: mounts Corbado's UI (the vendored @corbado/web-js bundle, which
// defines window.Corbado) and hands a Corbado login over to the server, exactly like the embedded
// provider does: POST /auth/session through the hidden htmx form, which swaps the home fragment in.
// No inline script, no framework; works again after every htmx swap.
//
// The layout loads this script BEFORE the bundle (both deferred, so they run in document order): the
// flag below must be set before any of the bundle's code runs. Mounting waits for DOMContentLoaded,
// which fires only after every deferred script, the bundle included, has run.
(function () {
  "use strict";

  // FingerprintJS, inside the bundle, otherwise pings its CDN (m1.openfpcdn.io) now and then: our CSP
  // blocks that and logs a violation. This is FingerprintJS's documented switch for that monitoring.
  window.__fpjs_d_m = true;

  var loading = null; // the one Corbado.load() promise for this page
  // The session token last handed over (null: none yet). Each token is handed over at most once, so a
  // refused token cannot loop (the page shown with the error would hand it over again), while a new
  // login, which brings a new token, is handed over even after a refused one.
  var handedToken = null;

  function corbado() {
    return window.Corbado;
  }

  function showError(message) {
    var el = document.getElementById("passkey-error");
    if (el) el.textContent = message;
  }

  function load(el) {
    if (!loading) {
      var options = { projectId: el.dataset.corbadoProjectId, darkMode: "off" };
      if (el.dataset.corbadoFrontendSuffix) options.frontendApiUrlSuffix = el.dataset.corbadoFrontendSuffix;
      loading = Promise.resolve().then(function () {
        if (!corbado()) throw new Error("Corbado bundle missing");
        // Second argument: telemetry. false turns it off (the bundle reads `telemetry === false ||
        // telemetry?.disabled === true`); on, it posts to telemetry.cloud.corbado.io, which our CSP blocks.
        return corbado().load(options, false);
      });
      loading.catch(function () {
        loading = null; // let a later mount try again
      });
    }
    return loading;
  }

  // Corbado keeps its session JWT in the cbo_session_token cookie; when it is already there (a
  // returning visitor, or Corbado's UI just logged the person in) we only need to exchange it.
  // sessionToken returns the value the server will read (cbo_session_token first, then the legacy
  // cbo_short_session), or "" when there is none.
  function sessionToken() {
    var found = { cbo_session_token: "", cbo_short_session: "" };
    document.cookie.split(";").forEach(function (c) {
      var i = c.indexOf("=");
      var name = (i < 0 ? c : c.slice(0, i)).trim();
      if (i > 0 && Object.prototype.hasOwnProperty.call(found, name) && !found[name]) found[name] = c.slice(i + 1).trim();
    });
    return found.cbo_session_token || found.cbo_short_session;
  }

  function handOver() {
    var form = document.getElementById("session-form");
    if (!form) return;
    var token = sessionToken();
    if (token === handedToken) return; // this very token went to the server already
    handedToken = token;
    form.requestSubmit();
  }

  function mountAuth(el) {
    el.dataset.corbadoMounted = "1";
    if (sessionToken() && !document.querySelector("#passkey-error:not(:empty)")) {
      handOver();
      return;
    }
    load(el).then(
      function () {
        corbado().mountAuthUI(el, {
          onLoggedIn: function () {
            handOver();
          },
        });
      },
      function () {
        showError("Corbado's login could not be loaded. Check your connection and reload the page.");
      }
    );
  }

  function mountPasskeyList(el) {
    el.dataset.corbadoMounted = "1";
    load(el).then(
      function () {
        corbado().mountPasskeyListUI(el);
      },
      function () {
        el.textContent = "Your passkeys could not be loaded right now.";
      }
    );
  }

  function mountAll() {
    var auth = document.querySelector("#corbado-auth:not([data-corbado-mounted])");
    if (auth) mountAuth(auth);
    var list = document.querySelector("#corbado-passkey-list:not([data-corbado-mounted])");
    if (list) mountPasskeyList(list);
  }

  // Log out of Corbado too before the server ends its session. htmx waits for issueRequest().
  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail && evt.detail.elt;
    if (!form || !form.matches || !form.matches("form[data-corbado-logout]")) return;
    evt.preventDefault();
    // The server deletes the session cookie on logout; should a copy survive anyway (one the server
    // cannot name, such as a cookie for a parent domain), the login page shown next must not hand that
    // ended session over again. A new login brings a new token.
    var ending = sessionToken();
    var done = function () {
      if (ending) handedToken = ending;
      evt.detail.issueRequest(true);
    };
    var el = document.querySelector("[data-corbado-project-id]");
    if (!el || !corbado()) {
      done();
      return;
    }
    var timeout = new Promise(function (resolve) {
      setTimeout(resolve, 3000);
    });
    Promise.race([
      load(el).then(function () {
        // Without a Corbado session (its Frontend API was unreachable when the page loaded) there is
        // nothing to end on Corbado's side, and web-js's logout would post to a placeholder host
        // (pro-000000.frontendapi.corbado.io), which our CSP blocks.
        if (!corbado().isAuthenticated) return;
        return corbado().logout();
      }),
      timeout,
    ]).then(done, done);
  });

  document.addEventListener("htmx:afterSettle", mountAll);
  if (document.readyState === "complete") {
    mountAll();
  } else {
    // Not at "interactive": deferred scripts run then, before the bundle has. mountAll is idempotent;
    // "load" covers a script added after DOMContentLoaded.
    document.addEventListener("DOMContentLoaded", mountAll);
    window.addEventListener("load", mountAll);
  }
})();
