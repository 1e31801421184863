#!/usr/bin/env node
// Drives the demo page of `wspc serve` in headless Chromium (Debian's /usr/bin/chromium,
// through playwright-core; never downloads a browser), the way a person would use it:
// the page connects by itself, then the script types a text message and presses Enter,
// sends random binary messages, closes with a code and a reason, and saves a screenshot.
//
// Usage: browser_demo.js PAGE_URL SCREENSHOT_PNG
// Prints each check ("ok   ..." / "FAIL ..."), then the page's log ("log: KIND | WHAT |
// BODY"), then "browser_demo: N passed, M failed". Exit 0 when every check passed.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'node_modules', 'playwright-core'));

const [pageUrl, screenshot] = process.argv.slice(2);
if (!pageUrl || !screenshot) {
  console.error('usage: browser_demo.js PAGE_URL SCREENSHOT_PNG');
  process.exit(2);
}

// 2- and 3-byte UTF-8 that Debian's default fonts draw (no CJK/emoji fonts on CI machines).
const TEXT = 'héllo wörld — Ωμέγα ✓';
const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${name}`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
  }
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wspc-demo-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  let context;
  try {
    // launchPersistentContext passes --user-data-dir=<fresh temp dir> to Chromium.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1000, height: 900 }, timeout: 60000,
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.log(`(page console error: ${m.text()})`); });
    page.on('pageerror', (e) => console.log(`(page error: ${e.message})`));
    const received = (needle) => page.waitForFunction(
      (n) => [...document.querySelectorAll('#log li[data-kind="received"] .body')].some((b) => b.textContent.includes(n)),
      needle, { timeout: 15000 });

    await check('GET / serves the page', async () => {
      const resp = await page.goto(pageUrl, { timeout: 30000 });
      if (!resp || resp.status() !== 200) throw new Error(`status ${resp && resp.status()}`);
      const title = await page.title();
      if (!title.includes('wspc')) throw new Error(`title ${title}`);
    });
    await check('every input has a label, every button a name', async () => {
      const bad = await page.evaluate(() => [
        ...[...document.querySelectorAll('input')].filter((i) => i.labels.length === 0).map((i) => `input#${i.id}`),
        ...[...document.querySelectorAll('button')].filter((b) => !b.textContent.trim()).map((b) => `button#${b.id}`),
      ]);
      if (bad.length) throw new Error(`unlabelled: ${bad.join(', ')}`);
    });
    await check('the page connects to the server by itself', async () => {
      await page.waitForSelector('#status[data-state="open"]', { timeout: 15000 });
    });
    await check('text typed and sent with Enter comes back', async () => {
      await page.getByLabel('Message', { exact: true }).fill(TEXT);
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await received(TEXT);
    });
    await check('a second text message with the Send button', async () => {
      await page.getByLabel('Message', { exact: true }).fill('second message');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await received('second message');
    });
    for (const size of [16, 100000]) {
      await check(`${size} random bytes come back identical`, async () => {
        await page.getByLabel('Size in bytes', { exact: true }).fill(String(size));
        await page.getByRole('button', { name: 'Send random bytes' }).click();
        await page.waitForFunction(
          (n) => [...document.querySelectorAll('#log li[data-kind="received"] .body')]
            .some((b) => b.textContent.startsWith(`binary ${n} bytes: `) && b.textContent.includes('✓ matches')),
          size, { timeout: 15000 });
      });
    }
    await check('close with code 4000 and a reason', async () => {
      await page.getByLabel('Code', { exact: true }).fill('4000');
      await page.getByLabel(/^Reason/).fill('demo done');
      await page.getByRole('button', { name: 'Close connection' }).click();
      await page.waitForSelector('#status[data-state="closed"]', { timeout: 15000 });
      const last = await page.$$eval('#log li[data-kind="info"] .body', (els) => els.map((e) => e.textContent));
      if (!last.some((t) => t === 'code 4000, reason "demo done"')) throw new Error(`log: ${last.join(' / ')}`);
    });
    await check('counts show 4 sent and 4 received', async () => {
      const c = await page.textContent('#counts');
      if (c !== '4 sent, 4 received') throw new Error(c);
    });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);
    const entries = await page.$$eval('#log li', (els) => els.map((li) =>
      `${li.dataset.kind} | ${li.querySelector('.what').textContent} | ${li.querySelector('.body').textContent}`));
    for (const e of entries) console.log(`log: ${e}`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL browser: ${e.message}`);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r).length;
  console.log(`browser_demo: ${passed} passed, ${results.length - passed} failed`);
  return results.length > 0 && passed === results.length ? 0 : 1;
}

main().then((rc) => process.exit(rc));
