// The circuit page: drag the signature stamp onto a page, click a page to place a remark.
// Without this script the same forms work with the numbers typed in (page, points, 0..1).
(function () {
  "use strict";

  const pages = document.querySelector(".pages");
  if (!pages) return;
  const stampWidth = parseFloat(pages.dataset.stampWidth);
  const stampHeight = parseFloat(pages.dataset.stampHeight);
  const signForm = document.querySelector(".sign-form");
  const annotateForm = document.querySelector(".annotate-form");

  function pageOf(number) {
    return pages.querySelector('.page[data-page="' + number + '"]');
  }
  function scale(page) {
    // CSS pixels per PDF point for this page as shown.
    return page.querySelector("img").clientWidth / parseFloat(page.dataset.widthPt);
  }

  // Pins of remarks: stored as fractions of the page from its top-left corner.
  for (const pin of pages.querySelectorAll(".pin")) {
    pin.style.insetInlineStart = "auto";
    pin.style.left = parseFloat(pin.dataset.x) * 100 + "%";
    pin.style.top = parseFloat(pin.dataset.y) * 100 + "%";
  }

  if (annotateForm) {
    pages.addEventListener("click", function (event) {
      const page = event.target.closest(".page");
      if (!page || event.target.closest(".stamp")) return;
      const box = page.querySelector("img").getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width;
      const y = (event.clientY - box.top) / box.height;
      if (x < 0 || x > 1 || y < 0 || y > 1) return;
      annotateForm.querySelector("#annotate-page").value = page.dataset.page;
      annotateForm.querySelector("#annotate-x").value = x.toFixed(4);
      annotateForm.querySelector("#annotate-y").value = y.toFixed(4);
      annotateForm.querySelector("#annotate-text").focus();
    });
  }

  if (!signForm) return;
  const inputs = {
    page: signForm.querySelector('[name="page"]'),
    x: signForm.querySelector('[name="x"]'),
    y: signForm.querySelector('[name="y"]'),
  };
  const stamp = document.createElement("div");
  stamp.className = "stamp";
  stamp.tabIndex = 0;
  stamp.setAttribute("role", "button");
  stamp.setAttribute("aria-label", signForm.querySelector("h2").textContent);
  stamp.textContent = signForm.querySelector("h2").textContent;

  // Place the stamp from the form's numbers (PDF points from the page's bottom-left).
  function draw() {
    const page = pageOf(inputs.page.value) || pageOf(1);
    if (stamp.parentNode !== page) page.appendChild(stamp);
    const s = scale(page);
    const height = parseFloat(page.dataset.heightPt);
    stamp.style.width = stampWidth * s + "px";
    stamp.style.height = stampHeight * s + "px";
    stamp.style.left = parseFloat(inputs.x.value) * s + "px";
    stamp.style.top = (height - parseFloat(inputs.y.value) - stampHeight) * s + "px";
  }

  // Write the numbers from a position in CSS pixels inside a page, kept inside the page.
  function store(page, left, top) {
    const s = scale(page);
    const width = parseFloat(page.dataset.widthPt);
    const height = parseFloat(page.dataset.heightPt);
    const x = Math.min(Math.max(left / s, 0), width - stampWidth);
    const yTop = Math.min(Math.max(top / s, 0), height - stampHeight);
    inputs.page.value = page.dataset.page;
    inputs.x.value = x.toFixed(1);
    inputs.y.value = (height - yTop - stampHeight).toFixed(1);
    draw();
  }

  let grab = null;
  stamp.addEventListener("pointerdown", function (event) {
    const box = stamp.getBoundingClientRect();
    grab = { dx: event.clientX - box.left, dy: event.clientY - box.top };
    stamp.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  stamp.addEventListener("pointermove", function (event) {
    if (!grab) return;
    const under = document.elementsFromPoint(event.clientX, event.clientY)
      .map((el) => el.closest && el.closest(".page")).find(Boolean);
    const page = under || stamp.parentNode;
    const box = page.querySelector("img").getBoundingClientRect();
    store(page, event.clientX - grab.dx - box.left, event.clientY - grab.dy - box.top);
  });
  stamp.addEventListener("pointerup", function () { grab = null; });
  stamp.addEventListener("keydown", function (event) {
    const step = event.shiftKey ? 20 : 4;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const move = moves[event.key];
    if (!move) return;
    inputs.x.value = parseFloat(inputs.x.value) + move[0];
    inputs.y.value = parseFloat(inputs.y.value) + move[1];
    const page = stamp.parentNode;
    const s = scale(page);
    store(page, parseFloat(inputs.x.value) * s,
      (parseFloat(page.dataset.heightPt) - parseFloat(inputs.y.value) - stampHeight) * s);
    event.preventDefault();
  });
  for (const input of Object.values(inputs)) input.addEventListener("change", draw);
  window.addEventListener("resize", draw);
  const image = (pageOf(inputs.page.value) || pageOf(1)).querySelector("img");
  if (image.complete) draw(); else image.addEventListener("load", draw);
})();
