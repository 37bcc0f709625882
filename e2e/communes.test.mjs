// Browser tests on the new Tỉnh Vĩnh Long (86) and its 124 communes (configs/admin/86-2025.geojson),
// run by `go test ./e2e/` (TestBrowser, the "communes" run): the pages draw and name whatever lowest
// level the boundary data has, with the unit types it gives (Xã, Phường), and filter by its codes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { base, foreign, getJSON, launch, newPage, publish, signIn } from "./browser.mjs";

const artifacts = process.env.IOC_ARTIFACTS;
const sal = "e2e-sal-commune";
const where = { lat: 10.2415, lon: 106.3759 }; // on the Bến Tre river, in one of the new wards
let browser;
// fold drops the diacritics, as someone typing without Telex does.
const fold = (s) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/gi, "d").toLowerCase();
let commune; // {code, name} of the commune the station is in, as the server locates it

before(async () => {
  browser = await launch();
  const found = (await getJSON(`/api/v1/areas/lookup?lon=${where.lon}&lat=${where.lat}`)).found;
  commune = found.find((a) => a.level === "commune");
  assert.ok(commune, `the station's point is in a commune (found ${JSON.stringify(found)})`);
  await publish(`ioc/devices/${sal}/telemetry`, { salinity: 3.1, lat: where.lat, lon: where.lon });
});

after(async () => {
  await browser?.close();
});

test("the operator map draws the 124 communes by name and filters by a commune found by search", async () => {
  const page = await newPage();
  await page.goto(base + "/#14/" + where.lat + "/" + where.lon);
  await signIn(page);
  await page.waitForFunction(() => Number(document.body.dataset.boundaries) >= 100, null, { timeout: 15000 });
  const drawn = await page.$$eval("path[data-area]", (ps) => ps.map((p) => p.dataset.area));
  assert.ok(drawn.length >= 100 && drawn.includes(commune.code), `${drawn.length} commune outlines, ${commune.code} among them`);
  assert.match(await page.locator("label.area span").textContent(), /^Xã \/ Phường/, "the label names the unit types of the data");
  assert.ok((await page.locator("#area option").count()) >= 101, "every commune and the whole province");
  await page.waitForSelector(`[data-id="${sal}"]`, { timeout: 10000 });

  // Search by the name without diacritics, as typed on a keyboard without Telex.
  const plain = fold(commune.name);
  await page.fill("#area-q", plain);
  const listed = await page.$$eval("#area option", (os) => os.map((o) => [o.value, o.textContent]));
  assert.ok(listed.length < 20 && listed.some(([code, name]) => code === commune.code && name === commune.name), `search "${plain}" lists ${JSON.stringify(listed)}`);
  // Choosing a unit fits the map to it; the station is then looked at closely (no clusters), by link.
  const closeUp = (zoom) => page.evaluate(([z, w]) => { location.hash = `#${z}/${w.lat}/${w.lon}`; }, [zoom, where]);
  await page.selectOption("#area", commune.code);
  await closeUp(15);
  await page.waitForSelector(`[data-id="${sal}"]`);
  await page.fill("#area-q", "");
  const other = drawn.find((c) => c !== commune.code);
  await page.selectOption("#area", other);
  await closeUp(16);
  await page.waitForFunction(() => location.hash.startsWith("#16/"));
  await page.waitForSelector(`[data-id="${sal}"]`, { state: "detached" });
  await page.selectOption("#area", "");
  await closeUp(15);
  await page.waitForSelector(`[data-id="${sal}"]`);
  await page.screenshot({ path: join(artifacts, "communes-map.png") });
  await page.context().close();
  assert.deepEqual(foreign, []);
});

test("/report shows the commune outlines without signing in, from a public route that carries no staff data", async () => {
  const page = await newPage({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true });
  const denied = [];
  page.on("response", (r) => r.url().includes("/api/") && r.status() >= 400 && denied.push(r.url() + " " + r.status()));
  await page.goto(base + "/report");
  await page.waitForFunction(() => Number(document.body.dataset.boundaries) >= 100, null, { timeout: 15000 });
  assert.equal(await page.locator("#login").count(), 0, "no sign-in form");
  assert.deepEqual(denied, [], "no staff endpoint is called");
  await page.screenshot({ path: join(artifacts, "communes-report.png") });
  await page.context().close();

  const resp = await fetch(base + "/api/v1/boundaries"); // anonymous
  assert.equal(resp.status, 200);
  assert.match(resp.headers.get("cache-control") || "", /public/);
  const fc = await resp.json();
  assert.equal(fc.level, "commune");
  assert.equal(fc.features.length, 124);
  const keys = new Set(fc.features.flatMap((f) => Object.keys(f.properties)));
  assert.deepEqual([...keys].filter((k) => !["code", "name", "level", "type", "parent"].includes(k)), [], "outlines and names only");
  assert.ok(!JSON.stringify(fc).includes(sal), "no entity");
  for (const staff of ["/api/v1/areas", "/api/v1/entities", `/api/v1/areas/${commune.code}/summary`]) {
    const r = await fetch(base + staff);
    assert.ok(r.status === 401 || r.status === 403, `${staff} anonymous: ${r.status}`);
  }
});

test("/kpi names its rows and choropleth by commune", async () => {
  let data = {};
  for (let i = 0; i < 100 && !data.maxima?.length; i++) { // until the registry holds the reading
    data = await getJSON("/api/v1/kpi");
    if (!data.maxima?.length) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(data.reports.area_level, "commune");
  assert.deepEqual(data.maxima.map((m) => m.area), [commune.code]);
  const page = await newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(base + "/kpi");
  await signIn(page);
  await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll("#choro path").length >= 100, null, { timeout: 10000 });
  assert.equal(await page.locator('[data-t="k.choro"]').textContent(), "Tồn đọng theo xã / phường");
  assert.equal(await page.locator('[data-t="k.by_area"]').textContent(), "Theo xã / phường");
  assert.ok((await page.locator("#area option").count()) >= 101, "every commune and the whole province");
  await page.fill("#area-q", fold(commune.name));
  const listed = await page.$$eval("#area option", (os) => os.map((o) => o.value));
  assert.ok(listed.length < 20 && listed.includes(commune.code), `the search lists ${listed}`);
  await page.selectOption("#area", commune.code);
  await page.waitForFunction((code) => document.getElementById("csv").href.includes("area=" + code), commune.code);
  const row = page.locator(`#t-maxima tr[data-key="${commune.code}"]`);
  assert.match(await row.textContent(), new RegExp(commune.name + ".*3,1"), "the station's commune by name");
  await page.screenshot({ path: join(artifacts, "communes-kpi.png") });
  await page.context().close();
  assert.deepEqual(foreign, []);
});
