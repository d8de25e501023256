// The console's feedback screen in real Chromium, signed in as an admin: every office's
// #SARAN messages, one marked handled and answered (once), with screenshots.
// Usage: node feedback.mjs <gateway url> <admin username> <password>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, username, password] = process.argv.slice(2);
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });
const fail = (msg) => { throw new Error(msg); };

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(`${gateway}/petugas/masuk`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.click('#ke-saran');
  await page.waitForSelector('#saran');
  const items = await page.$$eval('#saran li', (lis) => lis.map((l) => [l.dataset.status, l.textContent]));
  if (items.length !== 2) fail(`feedback items: ${items.length}`);
  const open = await page.$('#saran li[data-status=baru]');
  if (!open || !(await open.textContent()).includes('Ruang tunggu panas')) fail('the new message is not listed as new');
  await page.screenshot({ path: path.join(shots, 'feedback-list.png'), fullPage: true });
  await page.click('#saran li[data-status=baru] button:has-text("Tandai sudah ditangani")');
  await page.waitForSelector('[role=status]');
  await page.fill('#saran li[data-status=ditangani] textarea', 'Terima kasih, pendingin ruangan sudah diperbaiki.');
  await page.click('#saran li[data-status=ditangani] button:has-text("Kirim jawaban")');
  await page.waitForSelector('[role=status]');
  if ((await page.$$('#saran li[data-status=dijawab]')).length !== 2) fail('both answered');
  if (await page.$('#saran textarea')) fail('an answered message can be answered again');
  await page.screenshot({ path: path.join(shots, 'feedback-answered.png'), fullPage: true });
  console.log('feedback ok');
} finally {
  await browser.close();
}
