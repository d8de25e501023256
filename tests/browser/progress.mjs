// The console's progress screen and the applicant's look-up in real Chromium: an office head
// finds a checked-in booking, moves its first applicant to "documents checked" and then to
// "ready for pickup", is refused a pickup ticket outside the pickup hours, sets the hours and
// gives the C- ticket; the dashboard's progress table counts the stage; the portal's look-up
// shows the progress and the pickup hours. Screenshots of each screen.
// Usage: node progress.mjs <gateway url> <head username> <password> <booking code> <phone>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, username, password, code, phone] = process.argv.slice(2);
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });
const fail = (msg) => { throw new Error(msg); };
const stageOf = async (page, n) => page.getAttribute(`#pemohon tr[data-pemohon="${n}"]`, 'data-tahap');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(`${gateway}/petugas/masuk`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.click('#ke-progres');
  await page.fill('#cari input[name=kode]', code);
  await page.click('#cari button');
  await page.waitForSelector('#pemohon');
  if ((await stageOf(page, 1)) !== 'WAITING') fail('a new applicant is not waiting');

  await page.selectOption('#tahap-1', 'DOCUMENTS_CHECKED');
  await page.click('#pemohon tr[data-pemohon="1"] button');
  await page.waitForSelector('#hasil[role=status]');
  if ((await stageOf(page, 1)) !== 'DOCUMENTS_CHECKED') fail('the stage did not move');
  const options = await page.$$eval('#tahap-1 option', (o) => o.map((x) => x.value));
  if (options.includes('DOCUMENTS_CHECKED') || options.includes('PICKED_UP')) fail(`offered ${options}`);
  await page.screenshot({ path: path.join(shots, 'progress-stage.png'), fullPage: true });

  await page.selectOption('#tahap-1', 'READY_FOR_PICKUP');
  await page.click('#pemohon tr[data-pemohon="1"] button');
  await page.waitForSelector('#hasil[role=status]');
  if ((await stageOf(page, 1)) !== 'READY_FOR_PICKUP') fail('not ready');
  if (!(await page.textContent('#booking')).includes('jam pengambilan 13:00-15:00 WIB')) fail('no pickup hours');

  await page.click('#form-ambil button');
  await page.waitForSelector('#hasil[role=alert]');
  if (!(await page.textContent('#hasil')).includes('13:00-15:00')) fail('a pickup outside the hours was not refused with them');
  await page.screenshot({ path: path.join(shots, 'progress-pickup-closed.png'), fullPage: true });

  await page.fill('#form-jam-ambil input[name=buka]', '06:00');
  await page.fill('#form-jam-ambil input[name=tutup]', '12:00');
  await page.click('#form-jam-ambil button');
  await page.waitForSelector('#hasil[role=status]');
  await page.click('#form-ambil button');
  await page.waitForSelector('#hasil[role=status]');
  if (!(await page.textContent('#hasil')).includes('C-001')) fail('no C- ticket');
  await page.screenshot({ path: path.join(shots, 'progress-pickup.png'), fullPage: true });

  await page.goto(`${gateway}/petugas/dasbor?kantor=BOGOR&dari=2026-12-01&sampai=2026-12-01`);
  await page.waitForSelector('#progres');
  const ready = await page.$('#progres tr[data-kantor="BOGOR"][data-tahap="READY_FOR_PICKUP"]');
  if (!ready || !(await ready.textContent()).includes('Paspor siap diambil')) fail('the dashboard does not count the stage');
  await page.screenshot({ path: path.join(shots, 'progress-dashboard.png'), fullPage: true });

  const applicant = await browser.newPage();
  await applicant.goto(`${gateway}/cek`);
  await applicant.fill('#code', code);
  await applicant.fill('#phone', phone);
  await applicant.click('button[type=submit]');
  await applicant.waitForSelector('#progres');
  const progress = await applicant.textContent('#progres');
  if (!progress.includes('Paspor siap diambil') || !progress.includes('Belum diproses')) fail(`look-up progress: ${progress}`);
  if (!(await applicant.textContent('#jam-ambil')).includes('06:00-12:00 WIB')) fail('look-up pickup hours');
  await applicant.screenshot({ path: path.join(shots, 'progress-lookup.png'), fullPage: true });
  console.log('progress ok');
} finally {
  await browser.close();
}
