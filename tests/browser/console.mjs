// The staff console and the queue display in real Chromium: sign-in (a wrong password first),
// check-in by code, a walk-in priority ticket, calling from the console while the display
// page (open in another tab) updates by itself, marking served, the CSRF guard, and that an
// office's staff cannot act for another office. Screenshots go to screenshots/console-*.png.
// Usage: node console.mjs <gateway url> <username> <password> <booking code> <second code>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, username, password, code1, code2] = process.argv.slice(2);
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });
const fail = (msg) => { throw new Error(msg); };
let step = 0;
async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: path.join(shots, `console-${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
}
async function text(page, selector) { return (await page.textContent(selector)) ?? ''; }

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const context = await browser.newContext();
  const page = await context.newPage();

  // Signing in: a wrong password is refused in Bahasa Indonesia.
  await page.goto(`${gateway}/petugas`);
  if (!page.url().endsWith('/petugas/masuk')) fail(`not sent to sign-in: ${page.url()}`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', 'salah-sekali-123');
  await page.click('button[type=submit]');
  if (!(await text(page, '.alert')).includes('Nama pengguna atau kata sandi salah')) fail('no wrong-password message');
  await shot(page, 'login-wrong');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  if (!page.url().endsWith('/petugas')) fail(`not in the console: ${page.url()}`);
  const cookie = (await context.cookies()).find((c) => c.name === 'antrean_petugas');
  if (!cookie || !cookie.httpOnly || !cookie.secure || cookie.sameSite !== 'Strict') fail(`weak session cookie: ${JSON.stringify(cookie)}`);
  if ((await text(page, '#kantor')) !== 'BOGOR') fail('wrong office');
  await shot(page, 'console');

  // Check-in by typing the code (the camera scanner needs a device camera).
  await page.fill('#kode', code1);
  await page.click('#form-checkin button[type=submit]');
  if (!(await text(page, '.ok')).includes('Check-in berhasil')) fail(`check-in: ${await text(page, 'main')}`);
  if (!(await text(page, '#pemohon')).includes('A-001')) fail('no queue number after check-in');
  await shot(page, 'checked-in');
  await page.fill('#kode', 'XXXX-XXXX-XXXX-X');
  await page.click('#form-checkin button[type=submit]');
  if (!(await page.$('.alert'))) fail('a wrong code gave no error');

  // A walk-in priority ticket.
  await page.fill('input[name=nama]', 'Ibu Sari');
  await page.selectOption('select[name=alasan]', 'PREGNANT');
  await page.click('form[action="/petugas/walkin"] button:has-text("Beri nomor prioritas")');
  if (!(await text(page, '.ok')).includes('P-001')) fail(`walk-in: ${await text(page, 'main')}`);

  // The display in a second tab, updating by itself.
  const display = await context.newPage();
  // What the display says aloud, recorded in place of the speakers.
  await display.addInitScript(() => {
    window.spoken = [];
    window.speechSynthesis.speak = (u) => window.spoken.push([u.lang, u.text]);
  });
  await display.goto(`${gateway}/layar/BOGOR`);
  if (!(await text(display, 'h1')).includes('Bogor')) fail('display heading');
  await display.click('#suara');
  await page.bringToFront();
  await page.fill('input[name=loket]', 'Loket 1');
  await page.click('form[action="/petugas/panggil"] button');
  if ((await text(page, '#nomor')) !== 'A-001') fail(`first call: ${await text(page, '#nomor')}`);
  await shot(page, 'called');
  await display.waitForFunction(() => document.querySelector('#dipanggil tbody')?.textContent.includes('A-001'), null, { timeout: 10000 });
  await page.click('button:has-text("Selesai dilayani")');
  if ((await text(page, '#status-tiket')) !== 'SERVED') fail('not served');
  await page.fill('input[name=loket]', 'Loket 2');
  await page.click('form[action="/petugas/panggil"] button');
  const second = await text(page, '#nomor');
  await display.waitForFunction((n) => document.querySelector('#dipanggil tbody')?.textContent.includes(n), second, { timeout: 10000 });
  const board = await text(display, '#dipanggil');
  if (!board.includes('Loket 2') || board.includes('Ibu Sari')) fail(`display: ${board}`);
  // Each call announced once, in Bahasa Indonesia, in the order called.
  await display.waitForFunction(() => window.spoken.length >= 2, null, { timeout: 10000 });
  const spoken = await display.evaluate(() => window.spoken);
  if (JSON.stringify(spoken) !== JSON.stringify([['id-ID', 'Nomor antrean A-001, silakan ke loket 1'], ['id-ID', `Nomor antrean ${second}, silakan ke loket 2`]])) fail(`spoken: ${JSON.stringify(spoken)}`);
  await shot(display, 'display');

  // A form without the session's CSRF token is refused and changes nothing.
  const forged = await page.evaluate(async () => {
    const r = await fetch('/petugas/panggil', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=bad&loket=Loket+9&kantor=BOGOR' });
    return r.status;
  });
  if (forged !== 403) fail(`forged form answered ${forged}`);

  // Bogor's staff cannot act for Jakarta: the office field is ignored, the booking refused.
  const csrf = await page.getAttribute('input[name=csrf]', 'value');
  const other = await page.evaluate(async ([csrf, code]) => {
    const r = await fetch('/petugas/checkin', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}&kantor=JAKPUS&kode=${encodeURIComponent(code)}` });
    return r.text();
  }, [csrf, code2]);
  if (!other.includes('id="kantor">BOGOR<') || !other.includes('role="alert"')) fail('a Jakarta booking was not refused');

  // Signing out ends the session.
  await page.click('form[action="/petugas/keluar"] button');
  await page.goto(`${gateway}/petugas`);
  if (!page.url().endsWith('/petugas/masuk')) fail('still signed in after sign-out');
  console.log('console ok');
} finally {
  await browser.close();
}
