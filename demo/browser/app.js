// The browser walk-through: sign up, sign in, call the API with the id token, refresh, sign out, and show
// that the old token is refused. Every step is one fetch() from this page's origin to the gateway's.
"use strict";

const query = new URLSearchParams(location.search);
const gateway = query.get("gateway") || "http://127.0.0.1:8080";
const username = query.get("user") || "browser-" + Math.random().toString(36).slice(2, 10);
const password = "Correct-Horse-9";
document.getElementById("gateway").textContent = gateway;
document.getElementById("user").textContent = username;

function show(name, ok, detail) {
  const item = document.createElement("li");
  item.dataset.step = name;
  item.dataset.ok = String(ok);
  item.textContent = name + ": " + detail;
  document.getElementById("steps").appendChild(item);
  return ok;
}

async function call(path, { method = "GET", token, body } = {}) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(gateway + path, { method, headers, body: body && JSON.stringify(body) });
  let json = null;
  try { json = await response.json(); } catch (_) { /* not JSON */ }
  return { status: response.status, json, requestID: response.headers.get("x-request-id") };
}

async function step(name, expected, run) {
  try {
    const answer = await run();
    const message = answer.json && (answer.json.msg || answer.json.message);
    const detail = answer.status + (message ? " " + message : "");
    if (!show(name, answer.status === expected, detail + " (expected " + expected + ")")) throw new Error(name);
    return answer;
  } catch (error) {
    // A TypeError here is the browser refusing to let the page read the answer: CORS said no.
    if (!(error instanceof Error && error.message === name)) show(name, false, "blocked: " + error);
    throw error;
  }
}

async function main() {
  const signUp = await step("sign up", 200, () => call("/signin", { method: "POST", body: { username, password } }));
  show("new user", signUp.json.is_new === "true", "is_new " + signUp.json.is_new);
  const signIn = await step("sign in", 200, () => call("/signin", { method: "POST", body: { username, password } }));
  const api = await step("API with the id token", 200, () => call("/api/orders", { token: signIn.json.id_token }));
  show("request id readable", /^[0-9a-f-]{36}$/.test(api.requestID || ""), "X-Request-Id " + api.requestID);
  await step("API without a token", 401, () => call("/api/orders"));
  const refreshed = await step("refresh", 200, () =>
    call("/refresh", { method: "POST", body: { refresh_token: signIn.json.refresh_token, username } }));
  await step("API with the refreshed id token", 200, () => call("/api/orders", { token: refreshed.json.id_token }));
  await step("sign out", 200, () => call("/signout", { method: "POST", token: signIn.json.access_token }));
  await step("API with the old id token after sign-out", 401, () =>
    call("/api/orders", { token: refreshed.json.id_token }));
  await step("refresh after sign-out", 401, () =>
    call("/refresh", { method: "POST", body: { refresh_token: signIn.json.refresh_token, username } }));
}

main().then(
  () => { document.getElementById("result").textContent = "PASS"; },
  () => { document.getElementById("result").textContent = "FAIL"; });
