// The app's own pages: the first-run choice, progress, and errors. The view and its texts come
// in the query string from the native side; the choice goes back through the `choose` and
// `retry` commands, the only ones these pages may call.
"use strict";

const params = new URLSearchParams(location.search);
const invoke = (cmd, args) => window.__TAURI_INTERNALS__.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

function show(view) {
  for (const id of ["loading", "welcome", "error"]) $(id).hidden = id !== view;
}

function busy(button, text) {
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  button.dataset.label = button.textContent;
  button.textContent = text;
}

function idle() {
  for (const b of document.querySelectorAll("button")) {
    b.disabled = false;
    if (b.dataset.label) b.textContent = b.dataset.label;
  }
}

function fail(element, error) {
  element.textContent = String(error);
  element.hidden = false;
  idle();
}

const view = params.get("view") ?? "loading";
if (view === "loading") {
  $("loading-message").textContent = params.get("message") ?? "Starting…";
} else if (view === "welcome") {
  if (params.get("error")) fail($("welcome-error"), params.get("error"));
  for (const server of params.getAll("recent")) {
    const option = document.createElement("option");
    option.value = server;
    $("recent-servers").append(option);
  }
  if (params.getAll("recent").length) $("server").value = params.getAll("recent")[0];
  $("use-local").addEventListener("click", () => {
    busy($("use-local"), "Starting…");
    invoke("choose", { mode: "local" }).catch((e) => fail($("welcome-error"), e));
  });
  $("remote-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("remote-error").hidden = true;
    busy($("connect"), "Checking…");
    invoke("choose", { mode: "remote", server: $("server").value }).catch((e) => fail($("remote-error"), e));
  });
} else if (view === "error") {
  $("error-message").textContent = params.get("message") ?? "Something went wrong.";
  const remote = params.get("remote") === "1";
  if (remote) $("error-title").textContent = "The team server cannot be used";
  $("error-local").hidden = !remote;
  $("error-other").hidden = !remote;
  $("retry").addEventListener("click", () => {
    busy($("retry"), "Trying…");
    invoke("retry").catch((e) => fail($("error-message"), e));
  });
  $("error-local").addEventListener("click", () => {
    busy($("error-local"), "Starting…");
    invoke("choose", { mode: "local" }).catch((e) => fail($("error-message"), e));
  });
  $("error-other").addEventListener("click", () => {
    location.search = "?view=welcome";
  });
}
show(view);
