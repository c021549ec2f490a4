// Polls the QR login status and continues the login when the app has approved it.
(function () {
  "use strict";
  var state = document.getElementById("qr-state");
  var form = document.getElementById("qr-form");
  if (!state || !form) { return; }
  var url = state.getAttribute("data-status-url");
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === "approved") { form.submit(); return; }
        if (body.status === "expired") { state.textContent = state.getAttribute("data-expired"); return; }
        if (body.status === "denied") { state.textContent = state.getAttribute("data-denied"); return; }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1500);
}());
