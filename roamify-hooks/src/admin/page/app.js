// The operations page of roamify-hooks. Every value from the server is shown with
// `textContent` (never parsed as HTML): payload strings are the sender's. The token is kept in
// this tab's session storage and sent in a header, never in a cookie.
"use strict";

(() => {
  const TOKEN_KEY = "roamify-hooks-admin-token";
  const PAGE = 50;
  const KINDS = [
    "esim.status", "esim.usage", "partner.low_balance", "partner.top_up",
    "partner.insufficient_balance", "affiliate.order", "refund.refunded", "refund.rejected",
  ];
  const $ = (id) => document.getElementById(id);
  let offset = 0;
  let query = "";
  let current = null; // the delivery shown in the detail
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
      const error = new Error(answer.message || "the server answered " + response.status);
      error.status = response.status;
      throw error;
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

  function option(select, value, label) {
    const item = document.createElement("option");
    item.value = value;
    item.textContent = label;
    select.appendChild(item);
  }

  function button(label, onClick, kind) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (kind) b.className = kind;
    b.addEventListener("click", () => onClick().catch(failed));
    return b;
  }

  async function counts() {
    const answer = await api("counts");
    for (const cell of document.querySelectorAll("[data-count]")) {
      cell.textContent = String(answer[cell.dataset.count]);
    }
    const list = $("paused");
    list.replaceChildren();
    for (const kind of answer.paused || []) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = kind;
      item.appendChild(name);
      item.appendChild(button("Resume", () => pause(kind, false), "quiet"));
      list.appendChild(item);
    }
  }

  async function pause(kind, paused) {
    await api(paused ? "pause" : "resume", { method: "POST", body: { kind } });
    say(paused ? `Paused ${kind}: its deliveries are stored and wait.` : `Resumed ${kind}.`);
    await counts();
  }

  function readQuery() {
    const params = new URLSearchParams();
    const fields = [["iccid", "search-iccid"], ["kind", "search-kind"], ["outcome", "search-outcome"], ["since", "search-since"], ["error", "search-error"]];
    for (const [name, id] of fields) {
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
    return td;
  }

  function clickable(row, open) {
    row.tabIndex = 0;
    row.addEventListener("click", () => open().catch(failed));
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open().catch(failed);
    });
  }

  async function search(more) {
    if (!more) {
      offset = 0;
      query = readQuery().toString();
    }
    const params = new URLSearchParams(query);
    params.set("offset", String(offset));
    params.set("limit", String(PAGE));
    const answer = await api("deliveries?" + params.toString());
    const body = $("deliveries").tBodies[0];
    if (!more) body.replaceChildren();
    for (const item of answer.items) {
      const row = document.createElement("tr");
      row.dataset.key = item.key;
      cell(row, "Received", item.received);
      cell(row, "Event", item.event);
      cell(row, "ICCID", item.iccid || "—");
      cell(row, "Outcome", item.outcome).dataset.outcome = item.outcome;
      cell(row, "Attempts", String(item.attempts.length));
      cell(row, "Last error", item.error || "");
      clickable(row, () => open(item.key));
      body.appendChild(row);
    }
    offset += answer.items.length;
    $("more").hidden = offset >= answer.total;
    say(answer.total === 0 ? "No deliveries match." : `${answer.total} deliver${answer.total === 1 ? "y matches" : "ies match"}.`);
  }

  async function letters() {
    const answer = await api("dead-letters?limit=" + PAGE);
    const body = $("letters").tBodies[0];
    body.replaceChildren();
    for (const item of answer.items) {
      const row = document.createElement("tr");
      row.dataset.key = item.key;
      cell(row, "Died", item.died);
      cell(row, "Event", item.event);
      cell(row, "ICCID", item.iccid || "—");
      cell(row, "Attempts", String(item.attempts));
      cell(row, "Last error", item.error);
      clickable(row, () => open(item.key));
      body.appendChild(row);
    }
  }

  // A delivery from the history; a dead letter the history does not hold is shown as one.
  async function fetchDelivery(key) {
    try {
      return await api("deliveries/" + encodeURIComponent(key));
    } catch (error) {
      if (error.status !== 404) throw error;
      const letter = await api("dead-letters/" + encodeURIComponent(key));
      return {
        key: letter.key, event: letter.event, iccid: letter.iccid, outcome: "dead",
        received: null, finished: letter.died, duplicates: null, replays: null,
        error: letter.error, attempts: [], body: letter.body,
      };
    }
  }

  async function open(key) {
    const d = await fetchDelivery(key);
    current = d;
    const fields = { key: d.key, event: d.event, iccid: d.iccid, outcome: d.outcome, received: d.received, finished: d.finished, duplicates: d.duplicates, replays: d.replays, error: d.error };
    for (const [name, value] of Object.entries(fields)) {
      $("d-" + name).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    }
    $("d-outcome").dataset.outcome = d.outcome;
    const attempts = $("d-attempts").tBodies[0];
    attempts.replaceChildren();
    for (const a of d.attempts) {
      const row = document.createElement("tr");
      cell(row, "Started", a.at);
      cell(row, "Took", `${a.took_ms} ms`);
      cell(row, "Result", a.error || "ok");
      attempts.appendChild(row);
    }
    const hasBody = typeof d.body === "string";
    $("d-body").textContent = hasBody ? d.body : "";
    $("d-body").hidden = !hasBody;
    $("d-no-body").hidden = hasBody;
    const dead = d.outcome === "dead";
    $("replay").disabled = !dead;
    $("discard").disabled = !dead;
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
    const d = current;
    pending = null;
    $("confirm").hidden = true;
    if (!action || !d) return;
    const answer = await api("dead-letters/" + action, { method: "POST", body: { keys: [d.key] } });
    const done = answer.done === 1;
    await refresh();
    await open(d.key).catch(() => { $("detail").hidden = true; });
    say(done
      ? (action === "replay" ? `Replayed ${d.key}: queued for its handlers again.` : `Discarded ${d.key}.`)
      : `${d.key} is no longer a dead letter.`, !done);
  }

  async function refresh() {
    try {
      await counts();
      await search(false);
      await letters();
    } catch (error) {
      failed(error);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const kind of KINDS) {
      option($("pause-kind"), kind, kind);
    }
    for (const kind of KINDS) {
      if (kind.endsWith(".status") || kind.endsWith(".low_balance") || kind.endsWith(".order") || kind.endsWith(".refunded")) {
        const category = kind.split(".")[0];
        option($("search-kind"), category, category + ".*");
      }
      option($("search-kind"), kind, kind);
    }
    $("login-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut(""));
    $("search").addEventListener("submit", (e) => {
      e.preventDefault();
      $("detail").hidden = true;
      search(false).catch(failed);
    });
    $("search").addEventListener("reset", () => setTimeout(() => search(false).catch(failed), 0));
    $("pause-form").addEventListener("submit", (e) => {
      e.preventDefault();
      pause($("pause-kind").value, true).catch(failed);
    });
    $("more").addEventListener("click", () => search(true).catch(failed));
    $("refresh-detail").addEventListener("click", () => current && open(current.key).catch(failed));
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
