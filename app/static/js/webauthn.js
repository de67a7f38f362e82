// Security keys and platform authenticators (WebAuthn) for forms. Forms declare what they need;
// there is no inline script (the CSP forbids it).
//
//   <form data-webauthn-create data-webauthn-options="{...}">   registers a key
//         (navigator.credentials.create with the server's registration options)
//   <form data-webauthn-get data-webauthn-options="{...}">      confirms with a key
//         (navigator.credentials.get with the server's assertion options)
//   <form data-webauthn-get="/url/returning/options.json">      the same, the options fetched
//         (GET, same origin, JSON) when the form is submitted
//
// On submit the script asks the browser for the credential, writes its answer as JSON (binary
// fields in base64url, the shape py_webauthn parses) into the form's hidden input named
// "webauthn_response", then submits the form with the button that was pressed. A data-webauthn-get
// form with no options and no URL submits as usual (the user has no key to confirm with).
// If anything fails, nothing is submitted: a message is shown in the form's [data-webauthn-error]
// element, which carries the translated texts in its attributes:
//   data-message-unsupported  the browser cannot use keys (or the page was reached by IP address)
//   data-message-cancelled    the user cancelled, or the key did not answer in time
//   data-message-known        (registration) this key is already registered
//   data-message-failed       anything else (also used when one of the above is missing)
(function () {
  "use strict";

  const approved = new WeakSet(); // forms whose answer is ready: let the next submit through
  const busy = new WeakSet(); // forms waiting for the key: ignore further clicks

  function toBytes(base64url) {
    // atob is forgiving about missing padding (WHATWG forgiving-base64).
    const binary = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function toBase64url(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: toBytes(d.id) }));
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function answerJSON(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  async function optionsOf(form) {
    if (form.dataset.webauthnOptions) return JSON.parse(form.dataset.webauthnOptions);
    const url = form.dataset.webauthnGet;
    if (!url) return null;
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error("security key options: HTTP " + response.status);
    return response.json();
  }

  function showError(form, kind) {
    const box = form.querySelector("[data-webauthn-error]");
    if (!box) return;
    const messages = {
      unsupported: box.dataset.messageUnsupported,
      cancelled: box.dataset.messageCancelled,
      known: box.dataset.messageKnown,
    };
    box.textContent = messages[kind] || box.dataset.messageFailed || "";
    box.hidden = false;
  }

  function errorKind(error) {
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return "cancelled";
    }
    if (error && error.name === "InvalidStateError") return "known";
    if (error && (error.name === "SecurityError" || error.name === "NotSupportedError")) {
      return "unsupported";
    }
    return "failed";
  }

  function setBusy(form, waiting) {
    if (waiting) busy.add(form);
    else busy.delete(form);
    form.setAttribute("aria-busy", waiting ? "true" : "false");
    for (const button of form.querySelectorAll('button[type="submit"], button:not([type])')) {
      button.disabled = waiting;
    }
  }

  function submit(form, submitter) {
    // requestSubmit fires the submit event synchronously: only that one goes through unasked.
    approved.add(form);
    try {
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    } finally {
      approved.delete(form);
    }
  }

  async function ceremony(form, mode, submitter) {
    const box = form.querySelector("[data-webauthn-error]");
    if (box) box.hidden = true;
    const answer = form.querySelector('input[name="webauthn_response"]');
    setBusy(form, true);
    try {
      const json = await optionsOf(form);
      if (json === null) {
        setBusy(form, false);
        submit(form, submitter);
        return;
      }
      if (!answer || !window.PublicKeyCredential || !navigator.credentials) {
        setBusy(form, false);
        showError(form, "unsupported");
        return;
      }
      const credential =
        mode === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(json) })
          : await navigator.credentials.get({ publicKey: requestOptions(json) });
      answer.value = answerJSON(credential);
    } catch (error) {
      setBusy(form, false);
      showError(form, errorKind(error));
      return;
    }
    setBusy(form, false);
    submit(form, submitter);
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    let mode = null;
    if (form.hasAttribute("data-webauthn-create")) mode = "create";
    else if (form.hasAttribute("data-webauthn-get")) mode = "get";
    if (mode === null) return;
    if (approved.has(form)) return;
    event.preventDefault();
    if (!busy.has(form)) ceremony(form, mode, event.submitter);
  });
})();
