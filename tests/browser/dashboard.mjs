// The directorate's dashboard in real Chromium, signed in as an admin: the national view of
// one day (headline figures, offices ranked, the heatmap, the chart, live counters for today
// and the CSV), re-ranked by waiting time, a drill-down to one office and back, and Bogor's
// next day compared with this one. Screenshots in tests/browser/screenshots/.
// Usage: node dashboard.mjs <gateway url> <admin username> <password> <date> <next date>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, username, password, day, next] = process.argv.slice(2);
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });
const fail = (msg) => { throw new Error(msg); };
const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${gateway}/petugas/masuk`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.goto(`${gateway}/petugas/dasbor?kantor=&dari=${day}&sampai=${day}`);
  if (!(await page.textContent('h1')).includes('Nasional')) fail('not the national dashboard');

  // The summary: capacity, booked, checked in, served, forfeited, no-show, rate, cancelled,
  // channels, walk-ins, mean wait, waitlist, feedback.
  const summary = await texts(page, '#ringkasan tbody td');
  if (summary[1] !== '2' || summary[2] !== '1' || summary[3] !== '1' || summary[9] !== '1' || summary[12] !== '1') fail(`summary: ${summary}`);
  if (summary[10] === '-') fail(`no waiting time though tickets were called: ${summary}`);
  // The headline figures, each with the previous period beside it.
  const headline = await texts(page, '#sekilas .kpi-label');
  if (headline.join('|') !== 'Utilisasi kuota|Tidak hadir|Hangus|Tunggu check-in s.d. dipanggil|Daftar tunggu') fail(`headline: ${headline}`);
  if (!/%$/.test(await page.textContent('#sekilas [data-ukuran=utilisasi] .kpi-now'))) fail('utilisation is not a percentage');

  // Every office ranked, those with bookings first by utilisation; no table of every office
  // and day.
  const ranked = await page.$$eval('#peringkat tbody tr', (rows) => rows.map((r) => r.dataset.kantor));
  if (ranked.length !== 36) fail(`ranking holds ${ranked.length} offices`);
  if (ranked.slice(0, 2).sort().join(',') !== 'BOGOR,JAKPUS') fail(`ranking: ${ranked.slice(0, 5)}`);
  if (await page.$('#rincian')) fail('the national view still lists every office and day');
  // The heatmap: a cell per office and day, Bogor's shaded by its bookings.
  if ((await page.$$('#peta rect')).length !== 36) fail('heatmap cells');
  const bogorCell = await page.$(`#peta rect[data-kantor=BOGOR][data-tanggal="${day}"]`);
  if (!bogorCell || (await bogorCell.getAttribute('class')) === 'h0') fail('Bogor has no shade');
  if (!(await bogorCell.textContent()).includes('1 dari')) fail(`cell title: ${await bogorCell.textContent()}`);
  if (!(await page.$('#grafik rect'))) fail('no chart');
  await page.waitForSelector('#hari-ini-dipesan', { timeout: 10000 });
  if ((await page.textContent('#hari-ini-dipesan')) !== '2') fail('live counters');
  await page.screenshot({ path: path.join(shots, 'dashboard-national.png'), fullPage: true });
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.getAttribute('#csv', 'href'));
  const lines = csv.trim().split('\n');
  if (!lines[0].startsWith('office_code,date,capacity,booked') || !lines.some((l) => l.startsWith(`BOGOR,${day},`))) fail(`csv: ${csv}`);

  // Ranked by waiting time instead: Bogor, whose tickets were called, comes first.
  await page.click('#peringkat thead a[href*="urut=tunggu"]');
  await page.waitForSelector('#peringkat th[aria-sort] a[href*="urut=tunggu"]');
  const byWait = await page.$$eval('#peringkat tbody tr', (rows) => rows.map((r) => r.dataset.kantor));
  if (byWait[0] !== 'BOGOR') fail(`by waiting time: ${byWait.slice(0, 3)}`);
  if ((await page.textContent('#peringkat tbody tr:first-child td[data-ukuran=tunggu]')).trim().startsWith('-')) fail('Bogor has no waiting time');

  // Drill down to Bogor, and back.
  await page.click('#peringkat tbody tr[data-kantor=BOGOR] a');
  await page.waitForSelector('#rincian');
  if (!(await page.textContent('h1')).includes('BOGOR')) fail('not Bogor');
  const days = await texts(page, '#rincian tbody tr td:first-child');
  if (days.join(',') !== 'BOGOR') fail(`Bogor's days: ${days}`);
  if (await page.$('#peringkat')) fail('a ranking in one office');
  await page.screenshot({ path: path.join(shots, 'dashboard-office.png'), fullPage: true });
  await page.click('#ke-nasional');
  await page.waitForSelector('#peringkat');

  // Bogor's next day against this one: fewer seats used is bad news, shown as such.
  await page.goto(`${gateway}/petugas/dasbor?kantor=BOGOR&dari=${next}&sampai=${next}`);
  const change = await page.$('#sekilas [data-ukuran=utilisasi] .kpi-change');
  if (!(await change.textContent()).startsWith('▼') || (await change.getAttribute('class')) !== 'kpi-change buruk') fail(`change: ${await change.textContent()}`);
  if (!/sebelumnya \d/.test(await page.textContent('#sekilas [data-ukuran=utilisasi] .kpi-before'))) fail('previous period');
  await page.screenshot({ path: path.join(shots, 'dashboard-compared.png'), fullPage: true });
  console.log('dashboard ok');
} finally {
  await browser.close();
}
