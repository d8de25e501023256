// The directorate's dashboard in real Chromium, signed in as an admin: the national summary
// for one day, the chart, live counters for today (server-sent events) and the CSV export.
// Usage: node dashboard.mjs <gateway url> <admin username> <password> <date>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, username, password, day] = process.argv.slice(2);
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
  await page.goto(`${gateway}/petugas/dasbor?kantor=&dari=${day}&sampai=${day}`);
  if (!(await page.textContent('h1')).includes('Nasional')) fail('not the national dashboard');
  const summary = await page.$$eval('#ringkasan tbody td', (tds) => tds.map((t) => t.textContent.trim()));
  // capacity, booked, checked in, served, forfeited, no-show, rate, cancelled, channels,
  // walk-ins, waitlist, feedback
  if (summary[1] !== '2' || summary[2] !== '1' || summary[3] !== '1' || summary[9] !== '1' || summary[11] !== '1') fail(`summary: ${summary}`);
  const offices = await page.$$eval('#rincian tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  if (offices.join(',') !== 'BOGOR,JAKPUS') fail(`offices: ${offices}`);
  if (!(await page.$('#grafik rect'))) fail('no chart');
  await page.waitForSelector('#hari-ini-dipesan', { timeout: 10000 });
  if ((await page.textContent('#hari-ini-dipesan')) !== '2') fail('live counters');
  await page.screenshot({ path: path.join(shots, 'dashboard-national.png'), fullPage: true });
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.getAttribute('#csv', 'href'));
  const lines = csv.trim().split('\n');
  if (!lines[0].startsWith('office_code,date,capacity,booked') || !lines.some((l) => l.startsWith(`BOGOR,${day},`))) fail(`csv: ${csv}`);
  console.log('dashboard ok');
} finally {
  await browser.close();
}
