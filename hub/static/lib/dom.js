// Building the page safely: every value from the server goes in as text, never as HTML.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "for") {
      node.setAttribute(key, value === true ? "" : String(value));
    } else if (key === "onclick") node.addEventListener("click", value);
    else if (key === "onchange") node.addEventListener("change", value);
    else if (key === "oninput") node.addEventListener("input", value);
    else if (key === "onsubmit") node.addEventListener("submit", value);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function byId(id) {
  return document.getElementById(id);
}

// Each cell gets its column's heading as data-label: narrow screens show rows as cards.
export function labelCells(tbody) {
  const heads = Array.from(tbody.closest("table").querySelectorAll("thead th")).map((th) => th.textContent);
  for (const row of tbody.rows) {
    Array.from(row.cells).forEach((cell, i) => {
      if (heads[i]) cell.dataset.label = heads[i];
    });
  }
}

// A table with a header row and one row per item; ``columns`` is [[heading, item => cell content]].
export function table(columns, items, rowAttrs) {
  const body = el(
    "tbody",
    {},
    items.map((item) =>
      el("tr", rowAttrs ? rowAttrs(item) : {}, columns.map(([, cell]) => el("td", {}, cell(item))))
    )
  );
  const built = el(
    "table",
    { class: "list" },
    el("thead", {}, el("tr", {}, columns.map(([heading]) => el("th", { scope: "col" }, heading)))),
    body
  );
  labelCells(body);
  return built;
}

export function showNotice(message) {
  const notice = byId("notice");
  notice.textContent = message || "";
  notice.hidden = !message;
}

// A message beside a form: role=alert so a screen reader says it at once.
export function errorLine(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

// Run ``action`` with ``button`` disabled; show what went wrong in ``errorNode``.
export async function busy(button, errorNode, action) {
  if (errorNode) errorNode.hidden = true;
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    if (errorNode) errorLine(errorNode, err.message);
    else showNotice(err.message);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function badge(text, kind) {
  return el("span", { class: "pill pill-" + (kind || "plain") }, text);
}
