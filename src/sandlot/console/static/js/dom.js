// The console's DOM helpers. Every API answer is rendered as text (text nodes via el()),
// never as HTML: names, payloads and log lines come from whoever wrote them.

export const main = document.getElementById("main");

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An SVG element (createElementNS: the graphs are built with DOM calls, never markup).
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function table(columns, rows, attributes = {}) {
  return el("table", attributes,
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

export function link(route, label, attributes = {}) {
  return el("a", { href: "#" + route, ...attributes }, label);
}

export function errorBox(error) {
  return el("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function show(...children) {
  main.replaceChildren(...children);
}

export function panel(...children) {
  return el("section", { class: "panel" }, ...children);
}

// JSON text pretty-printed when it parses, as it came otherwise.
export function pretty(text) {
  if (text === undefined || text === null) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

export function when(epoch) {
  if (epoch === undefined || epoch === null || epoch === "") return "";
  const date = typeof epoch === "number" ? new Date(epoch * 1000) : new Date(epoch);
  return Number.isNaN(date.getTime()) ? String(epoch) : date.toISOString().replace("T", " ").slice(0, 19);
}

// Calls ``step`` now and then again after ``ms`` (or the milliseconds it answers) until
// it answers false or the stopper is called; returns the stopper. A view returns it so
// leaving the view stops the polling.
export function poll(step, ms) {
  let stopped = false;
  let timer = null;
  async function run() {
    const again = await step(); // a step shows its own errors
    if (!stopped && again !== false) timer = setTimeout(run, typeof again === "number" ? again : ms);
  }
  run();
  return () => { stopped = true; clearTimeout(timer); };
}
