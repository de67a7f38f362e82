// Registration form helpers. The form works without this script; it only saves round trips.
(function () {
  "use strict";
  const form = document.querySelector("form.register-form");
  if (!form) return;

  // Refuse an oversized file before uploading it, with the same translated message as the server.
  const maxBytes = Number(form.dataset.maxBytes);
  const input = form.querySelector('input[type="file"]');
  const sizeError = document.getElementById("upload-size-error");
  if (input && sizeError) {
    input.addEventListener("change", function () {
      const tooLarge = Array.from(input.files).some((file) => file.size > maxBytes);
      sizeError.hidden = !tooLarge;
      input.setCustomValidity(tooLarge ? sizeError.textContent : "");
    });
  }

  // Search the contacts directory as the officer types and refill the correspondent list.
  const search = document.getElementById("contact-search");
  const select = form.querySelector('select[name="correspondent_id"]');
  if (!search || !select) return;
  let timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const url = search.dataset.source + "?q=" + encodeURIComponent(search.value);
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const contacts = await response.json();
      const first = select.options[0];
      select.replaceChildren(first);
      for (const contact of contacts) {
        select.add(new Option(contact.label, String(contact.id)));
      }
      if (contacts.length === 1) select.value = String(contacts[0].id);
    }, 250);
  });
})();
