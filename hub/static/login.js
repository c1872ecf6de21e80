// After logging in, go to the page the link asked for (a mail's "#request/R-2026-0001"): the
// part after "#" never reaches the hub, so the form carries it. The hub checks it is a page name.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const next = document.getElementById("next");
  if (next && /^#[A-Za-z0-9/_-]{1,100}$/.test(location.hash)) next.value = location.hash;
});
