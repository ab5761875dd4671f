// Latchkey's glue for Corbado mode: mounts Corbado's UI (the vendored @corbado/web-js bundle, which
// defines window.Corbado) and hands a Corbado login over to the server, exactly like the embedded
// provider does: POST /auth/session through the hidden htmx form, which swaps the home fragment in.
// No inline script, no framework; works again after every htmx swap.
(function () {
  "use strict";

  var loading = null; // the one Corbado.load() promise for this page
  var handedOver = false; // hand over at most once per page load, so a refused token cannot loop

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
        return corbado().load(options);
      });
      loading.catch(function () {
        loading = null; // let a later mount try again
      });
    }
    return loading;
  }

  // Corbado keeps its session JWT in the cbo_session_token cookie; when it is already there (a
  // returning visitor, or Corbado's UI just logged the person in) we only need to exchange it.
  function hasSessionCookie() {
    return document.cookie.split(";").some(function (c) {
      var name = c.trim().split("=")[0];
      return name === "cbo_session_token" || name === "cbo_short_session";
    });
  }

  function handOver() {
    if (handedOver) return;
    var form = document.getElementById("session-form");
    if (!form) return;
    handedOver = true;
    form.requestSubmit();
  }

  function mountAuth(el) {
    el.dataset.corbadoMounted = "1";
    if (hasSessionCookie() && !document.querySelector("#passkey-error:not(:empty)")) {
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
    var done = function () {
      handedOver = false;
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
        return corbado().logout();
      }),
      timeout,
    ]).then(done, done);
  });

  document.addEventListener("htmx:afterSettle", mountAll);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
