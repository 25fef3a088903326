// A real browser for Gatehouse's page tests: Debian's Chromium, headless, driven by
// playwright-core (the version pinned in package.json beside this file).
//
//   node browser.mjs '{"actions": [...]}'
//
// runs the actions in one fresh browser context (its own cookie jar) and prints one JSON
// line: {"url": final URL, "status": last navigation's HTTP status, "text": the page's
// visible text, "cookies": [{name, path, httpOnly, sameSite}], "snapshots": [the same,
// taken midway], "dialogs": [messages of the confirmations, each accepted]}; on failure
// {"error": "...", "url": ..., "text": ...} and exit status 1. Actions, in order:
//   {"goto": URL}                       open a URL
//   {"goto_append": SUFFIX}             open the current URL with SUFFIX appended
//   {"fill": SELECTOR, "value": TEXT}   type into a field
//   {"click": SELECTOR}                 click, and wait for the navigation it starts
//   {"wait_url": SUBSTRING}             wait until the URL contains SUBSTRING
//   {"snapshot": true}                  record what the page shows now (in "snapshots")
//   {"remember": NAME, "text_of": SEL}  keep the text of an element (printed in "remembered")
//   {"remember": NAME, "value_of": SEL} keep the value of a form field
//   {"fill": SELECTOR, "recall": NAME}  type a remembered text
//   {"fill_totp": SELECTOR, "secret": NAME | "secret_value": BASE32, "offset_secs": N}
//                                       type the RFC 6238 code (SHA-1, 6 digits, 30 s) of the
//                                       secret at now + N seconds (computed here, with node's
//                                       crypto: a third implementation beside ours and pyotp)
//   {"screenshot": PATH}                save a PNG of the page
//   {"select": SELECTOR, "value": V}    choose an option of a <select>
//   {"check": SELECTOR}                 tick a checkbox
//   {"upload": SELECTOR, "file": PATH}  put a file into a file input
//   {"wait_filled": SELECTOR}           wait until a form field has a value (a page script
//                                       filling it)
//   {"download": SELECTOR, "save": PATH} click what starts a download and save the file
// Chromium comes from CHROMIUM (default /usr/bin/chromium); no browser is downloaded.
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${text}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function totp(secret, offsetSecs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + offsetSecs) / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, '0');
}

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
const context = await browser.newContext({ acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT_MS);
// A confirmation (window.confirm before a destructive action) is accepted, as a user would,
// and its message kept (printed in "dialogs").
const dialogs = [];
page.on('dialog', (dialog) => {
  dialogs.push(dialog.message());
  dialog.accept();
});
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
const remembered = {};
try {
  for (const a of actions) {
    if (a.goto) {
      await page.goto(a.goto);
    } else if (a.goto_append) {
      await page.goto(page.url() + a.goto_append);
    } else if (a.fill && a.recall) {
      await page.fill(a.fill, remembered[a.recall]);
    } else if (a.fill) {
      await page.fill(a.fill, a.value);
    } else if (a.remember && a.value_of) {
      remembered[a.remember] = await page.inputValue(a.value_of);
    } else if (a.remember) {
      remembered[a.remember] = (await page.locator(a.text_of).first().innerText()).trim();
    } else if (a.fill_totp) {
      const secret = a.secret_value ?? remembered[a.secret];
      await page.fill(a.fill_totp, totp(secret, a.offset_secs ?? 0));
    } else if (a.select) {
      await page.selectOption(a.select, a.value);
    } else if (a.check) {
      await page.check(a.check);
    } else if (a.upload) {
      await page.setInputFiles(a.upload, a.file);
    } else if (a.wait_filled) {
      const until = Date.now() + TIMEOUT_MS;
      while ((await page.inputValue(a.wait_filled)) === '') {
        if (Date.now() > until) throw new Error(`${a.wait_filled} stayed empty`);
        await page.waitForTimeout(50);
      }
    } else if (a.download) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(a.download)]);
      await download.saveAs(a.save);
    } else if (a.screenshot) {
      await page.screenshot({ path: a.screenshot, fullPage: true });
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
  console.log(JSON.stringify({ ...(await snapshot()), snapshots, remembered, dialogs }));
  await browser.close();
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message ?? e), ...(await snapshot()), snapshots }));
  await browser.close();
  process.exit(1);
}
