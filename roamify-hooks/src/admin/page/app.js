// The operations page of roamify-hooks. Every value from the server is shown with
// `textContent` (never parsed as HTML): payload strings are the sender's.
"use strict";

(() => {
  const TOKEN_KEY = "roamify-hooks-admin-token";
  const PAGE = 50;
  const $ = (id) => document.getElementById(id);
  let offset = 0;
  let query = "";
  let current = null; // the dead letter shown in the detail
  let pending = null; // the action waiting for confirmation

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class Refused extends Error {}

  async function api(path, options = {}) {
    const headers = { Authorization: "Bearer " + token() };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch("api/" + path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch (_) {
      answer = { message: "the server answered " + response.status };
    }
    if (response.status === 401) {
      signOut("The token was refused.");
      throw new Refused(answer.message);
    }
    if (!response.ok) {
      throw new Error(answer.message || "the server answered " + response.status);
    }
    return answer;
  }

  function say(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function failed(error) {
    if (!(error instanceof Refused)) say(error.message, true);
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api("counts");
    } catch (error) {
      if (!(error instanceof Refused)) $("login-error").textContent = error.message;
      return;
    }
    show();
  }

  function show() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    refresh();
  }

  async function counts() {
    const answer = await api("counts");
    for (const cell of document.querySelectorAll("[data-count]")) {
      cell.textContent = String(answer[cell.dataset.count]);
    }
  }

  function readQuery() {
    const params = new URLSearchParams();
    for (const [name, id] of [["iccid", "search-iccid"], ["kind", "search-kind"], ["since", "search-since"], ["error", "search-error"]]) {
      const value = $(id).value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  function cell(row, label, text) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.textContent = text;
    row.appendChild(td);
  }

  async function list(more) {
    if (!more) {
      offset = 0;
      query = readQuery().toString();
    }
    const params = new URLSearchParams(query);
    params.set("offset", String(offset));
    params.set("limit", String(PAGE));
    const answer = await api("dead-letters?" + params.toString());
    const body = $("letters").tBodies[0];
    if (!more) body.replaceChildren();
    for (const item of answer.items) {
      const row = document.createElement("tr");
      row.tabIndex = 0;
      row.dataset.key = item.key;
      cell(row, "Died", item.died);
      cell(row, "Event", item.event);
      cell(row, "ICCID", item.iccid || "—");
      cell(row, "Attempts", String(item.attempts));
      cell(row, "Last error", item.error);
      row.addEventListener("click", () => open(item.key).catch(failed));
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter") open(item.key).catch(failed);
      });
      body.appendChild(row);
    }
    offset += answer.items.length;
    $("more").hidden = offset >= answer.total;
    say(answer.total === 0 ? "No dead letters match." : `${answer.total} dead letter${answer.total === 1 ? "" : "s"} match.`);
  }

  async function open(key) {
    const letter = await api("dead-letters/" + encodeURIComponent(key));
    current = letter;
    $("d-key").textContent = letter.key;
    $("d-event").textContent = letter.event;
    $("d-iccid").textContent = letter.iccid || "—";
    $("d-attempts").textContent = String(letter.attempts);
    $("d-died").textContent = letter.died;
    $("d-stream").textContent = letter.stream || "—";
    $("d-error").textContent = letter.error;
    $("d-body").textContent = letter.body;
    $("confirm").hidden = true;
    $("detail").hidden = false;
    $("detail").scrollIntoView({ block: "start" });
  }

  function ask(action) {
    if (!current) return;
    pending = action;
    $("confirm-text").textContent = action === "replay"
      ? `Replay ${current.event} ${current.key}? Its handlers run again.`
      : `Discard ${current.event} ${current.key} for good?`;
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  }

  async function confirmed() {
    const action = pending;
    const letter = current;
    pending = null;
    $("confirm").hidden = true;
    if (!action || !letter) return;
    const answer = await api("dead-letters/" + action, { method: "POST", body: { keys: [letter.key] } });
    const done = answer.done === 1;
    $("detail").hidden = true;
    current = null;
    await refresh();
    say(done
      ? (action === "replay" ? `Replayed ${letter.key}: queued for its handlers again.` : `Discarded ${letter.key}.`)
      : `${letter.key} is no longer a dead letter.`, !done);
  }

  async function refresh() {
    try {
      await counts();
      await list(false);
    } catch (error) {
      failed(error);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut(""));
    $("search").addEventListener("submit", (e) => {
      e.preventDefault();
      $("detail").hidden = true;
      list(false).catch(failed);
    });
    $("search").addEventListener("reset", () => setTimeout(() => list(false).catch(failed), 0));
    $("more").addEventListener("click", () => list(true).catch(failed));
    $("replay").addEventListener("click", () => ask("replay"));
    $("discard").addEventListener("click", () => ask("discard"));
    $("confirm-yes").addEventListener("click", () => confirmed().catch(failed));
    $("confirm-no").addEventListener("click", () => { pending = null; $("confirm").hidden = true; });
    $("close").addEventListener("click", () => { $("detail").hidden = true; current = null; });
    // The counts follow the store while the page is open.
    setInterval(() => {
      if (token() && !document.hidden && !$("app").hidden) counts().catch(failed);
    }, 3000);
    if (token()) show(); else signOut("");
  });
})();
