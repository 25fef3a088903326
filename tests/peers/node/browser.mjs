// A real browser for Gatehouse's page tests: Debian's Chromium, headless, driven by
// playwright-core (the version pinned in package.json beside this file).
//
//   node browser.mjs '{"actions": [...]}'
//
// runs the actions in one fresh browser context (its own cookie jar) and prints one JSON
// line: {"url": final URL, "status": last navigation's HTTP status, "text": the page's
// visible text, "cookies": [{name, path, httpOnly, sameSite}], "snapshots": [the same,
// taken midway]}; on failure
// {"error": "...", "url": ..., "text": ...} and exit status 1. Actions, in order:
//   {"goto": URL}                       open a URL
//   {"goto_append": SUFFIX}             open the current URL with SUFFIX appended
//   {"fill": SELECTOR, "value": TEXT}   type into a field
//   {"click": SELECTOR}                 click, and wait for the navigation it starts
//   {"wait_url": SUBSTRING}             wait until the URL contains SUBSTRING
//   {"snapshot": true}                  record what the page shows now (in "snapshots")
// Chromium comes from CHROMIUM (default /usr/bin/chromium); no browser is downloaded.
import { chromium } from 'playwright-core';

const TIMEOUT_MS = 15000;

const { actions } = JSON.parse(process.argv[2] ?? '{}');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const context = await browser.newContext();
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT_MS);
let status = null;
page.on('response', (r) => {
  if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) status = r.status();
});

async function snapshot() {
  const text = await page.locator('body').innerText().catch(() => '');
  const cookies = (await context.cookies()).map((c) => ({
    name: c.name,
    path: c.path,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
  }));
  return { url: page.url(), status, text, cookies };
}

const snapshots = [];
try {
  for (const a of actions) {
    if (a.goto) {
      await page.goto(a.goto);
    } else if (a.goto_append) {
      await page.goto(page.url() + a.goto_append);
    } else if (a.fill) {
      await page.fill(a.fill, a.value);
    } else if (a.click) {
      const before = page.url();
      await Promise.all([page.waitForEvent('framenavigated'), page.click(a.click)]);
      await page.waitForLoadState('load');
      if (page.url() === before) await page.waitForLoadState('networkidle');
    } else if (a.wait_url) {
      await page.waitForURL((u) => u.toString().includes(a.wait_url));
      await page.waitForLoadState('load');
    } else if (a.snapshot) {
      snapshots.push(await snapshot());
    } else {
      throw new Error(`unknown action ${JSON.stringify(a)}`);
    }
  }
  console.log(JSON.stringify({ ...(await snapshot()), snapshots }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message ?? e), ...(await snapshot()), snapshots }));
  await browser.close();
  process.exit(1);
}
