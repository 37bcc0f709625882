// Shared by the browser tests (run by `go test ./e2e/`, which starts ioc and sets the environment):
// IOC_URL is the running ioc, IOC_CONTROL publishes MQTT readings like a field device, IOC_CHROMIUM is
// Debian's chromium. Every page opened here refuses requests that leave loopback and records them.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const base = process.env.IOC_URL;
const control = process.env.IOC_CONTROL;
if (!base || !control || !process.env.IOC_ARTIFACTS) throw new Error("run through `go test ./e2e/` (IOC_URL, IOC_CONTROL, IOC_ARTIFACTS unset)");

/** foreign holds every request that tried to leave loopback. */
export const foreign = [];
let browser;

/** launch starts the headless chromium the pages open in. */
export async function launch() {
  browser = await chromium.launch({
    executablePath: process.env.IOC_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  return browser;
}

function loopback(url) {
  const u = new URL(url);
  if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
  return ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname) || /^127\./.test(u.hostname);
}

export async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 }, locale: "vi-VN", timezoneId: "Asia/Ho_Chi_Minh", ...opts });
  await ctx.route("**/*", (route) => {
    const url = route.request().url();
    if (loopback(url)) return route.continue();
    foreign.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await ctx.newPage();
  page.on("websocket", (ws) => {
    if (!loopback(ws.url().replace(/^ws/, "http"))) foreign.push(ws.url());
  });
  page.on("pageerror", (err) => console.error("page error:", err.message));
  return page;
}

// signIn fills the sign-in form that staff pages show to a browser without a session (the first
// admin unless told).
export async function signIn(page, user = process.env.IOC_USER, password = process.env.IOC_PASSWORD) {
  await page.waitForSelector("#login");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "login-user");
  await page.keyboard.type(user);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#login", { state: "detached" });
}

export async function publish(topic, payload) {
  const resp = await fetch(control + "/publish", { method: "POST", body: JSON.stringify({ topic, payload }) });
  assert.equal(resp.status, 204, await resp.text());
}

export async function getJSON(path) {
  const resp = await fetch(base + path, { headers: { Authorization: "Bearer " + process.env.IOC_TOKEN } });
  assert.equal(resp.status, 200, path + ": " + (await resp.clone().text()));
  return resp.json();
}

