// Books end to end through the portal in real Chromium: office search, calendar, the phone
// verified first (the code read from the authentication template the WhatsApp sandbox
// received, a wrong code tried before), the form (with an inline error first), the booking
// confirmed at once: the proof with QR and PDF, the phone's own bookings listed, look-up by
// keyboard only, rescheduling once,
// and cancelling. Saves a screenshot of each
// step in screenshots/ and checks labels, keyboard use and contrast.
// Usage: node portal.mjs <gateway url> <cloud api url>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [gateway, cloudApi] = process.argv.slice(2);
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(shots, { recursive: true });

const fail = (msg) => { throw new Error(msg); };
let step = 0;
async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: path.join(shots, `${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// Every visible form control has a label.
async function checkLabels(page) {
  const unlabeled = await page.$$eval('input:not([type=hidden]), select, textarea', (els) =>
    els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.name || e.id));
  if (unlabeled.length) fail(`controls without a label on ${page.url()}: ${unlabeled}`);
}

// WCAG contrast of an element's text against its background.
async function contrast(page, selector) {
  return page.$eval(selector, (el) => {
    const rgb = (s) => s.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    let bgEl = el;
    let bg = getComputedStyle(bgEl).backgroundColor;
    while (bg === 'rgba(0, 0, 0, 0)' && bgEl.parentElement) { bgEl = bgEl.parentElement; bg = getComputedStyle(bgEl).backgroundColor; }
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg === 'rgba(0, 0, 0, 0)' ? 'rgb(255,255,255)' : bg))];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 412, height: 915 } });

  await page.goto(`${gateway}/`);
  await checkLabels(page);
  await page.fill('#q', 'bogor');
  await page.click('button[type=submit]');
  await shot(page, 'office-search');
  await page.click('a[href="/kantor/BOGOR"]');
  await page.waitForSelector('table.calendar');
  await shot(page, 'calendar');
  if (!(await page.textContent('table.calendar')).includes('PAGI 75')) fail('calendar shows no seats');

  await page.click('a[href="/kantor/BOGOR/pesan?tanggal=2026-12-01&sesi=PAGI"]');
  // The phone is verified before any form: a code by WhatsApp (authentication template).
  await page.waitForSelector('#phone');
  await checkLabels(page);
  await shot(page, 'verify-phone');
  const before = (await (await fetch(`${cloudApi}/messages?to=6281234567890`)).json()).length;
  await page.fill('#phone', '081234567890');
  await page.click('button[type=submit]');
  await page.waitForSelector('#code');
  let code;
  for (let i = 0; i < 100 && !code; i++) {
    const msgs = (await (await fetch(`${cloudApi}/messages?to=6281234567890`)).json()).slice(before);
    const t = msgs.map((x) => x.body?.template).find((t) => t?.name === 'antrean_kode_verifikasi');
    if (t) code = t.components[0].parameters[0].text; else await new Promise((r) => setTimeout(r, 100));
  }
  if (!code) fail('no verification code on WhatsApp');
  await page.fill('#code', code === '000000' ? '111111' : '000000');
  await page.click('button[type=submit]');
  await page.waitForSelector('[role=alert]');
  if (!(await page.textContent('[role=alert]')).includes('Sisa percobaan: 4')) fail('a wrong code is not refused');
  await shot(page, 'verify-wrong-code');
  await page.fill('#code', code);
  await page.click('button[type=submit]');

  await page.waitForSelector('#nik_0');
  await checkLabels(page);
  if (!(await page.textContent('#kontak')).includes('+62812')) fail('the form does not name the verified phone');
  await page.fill('#nik_0', '3201012601870001');
  await page.fill('#name_0', 'Budi Santoso');
  await page.fill('#birth_0', '1987-01-25');
  await page.click('button[type=submit]');
  await page.waitForSelector('#nik_0-err');
  const inline = await page.textContent('#nik_0-err');
  if (!inline.includes('tidak sesuai')) fail(`no inline NIK error: ${inline}`);
  await shot(page, 'form-error');
  await page.fill('#nik_0', '3201012501870001');
  await page.click('button[type=submit]');
  await page.waitForSelector('#kode-booking');
  const bookingCode = (await page.textContent('#kode-booking')).trim();
  if (!/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-.$/.test(bookingCode)) fail(`booking code ${bookingCode}`);
  const body = await page.textContent('main');
  for (const want of ['A-001', '08:00 WIB', 'e-KTP']) if (!body.includes(want)) fail(`proof lacks ${want}`);
  // The QR image loads after the page: wait for it rather than read it too early.
  const qrLoaded = await page
    .waitForFunction(() => { const i = document.querySelector('.qr img'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 10000 })
    .then(() => true, () => false);
  if (!qrLoaded) fail('QR code did not load');
  const pdf = await page.request.get(new URL(await page.getAttribute('a.button', 'href'), page.url()).href);
  if (pdf.headers()['content-type'] !== 'application/pdf' || !(await pdf.body()).subarray(0, 5).equals(Buffer.from('%PDF-'))) fail('no PDF');
  await shot(page, 'proof');

  for (const [sel, min] of [['main p', 4.5], ['button', 4.5], ['header a', 4.5]]) {
    const c = await contrast(page, sel);
    if (c < min) fail(`contrast of ${sel} is ${c.toFixed(2)}`);
  }

  // The phone verified for the booking lists its bookings (a lost code is found again).
  await page.goto(`${gateway}/booking-saya`);
  await checkLabels(page);
  const mine = await page.$$eval('#booking-saya li', (rows) => rows.map((r) => r.dataset.kode));
  if (mine.join(',') !== bookingCode) fail(`my bookings: ${mine}`);
  if (!(await page.textContent('#booking-saya')).includes('terkonfirmasi')) fail('status not shown');
  await shot(page, 'my-bookings');
  await page.click(`#booking-saya li[data-kode="${bookingCode}"] button`);
  await page.waitForSelector('#kode-booking');
  if ((await page.textContent('#kode-booking')).trim() !== bookingCode) fail('the list opens another booking');

  // Look-up with the keyboard only.
  await page.goto(`${gateway}/cek`);
  await checkLabels(page);
  let focused = '';
  for (let i = 0; i < 10 && focused !== 'code'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.id || '');
  }
  if (focused !== 'code') fail('the code field cannot be reached with Tab');
  await page.keyboard.type(bookingCode.toLowerCase());
  await page.keyboard.press('Tab');
  await page.keyboard.type('+62 812-3456-7890');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#kode-booking');
  await shot(page, 'lookup');

  // Moved once to the next afternoon: new queue number and time, the old slot said, no
  // second move offered.
  await checkLabels(page);
  await page.fill('#tanggal-baru', '2026-12-02');
  await page.selectOption('#sesi-baru', 'SIANG');
  await page.click('#ubah button[type=submit]');
  await page.waitForSelector('#pemberitahuan');
  const moved = await page.textContent('main');
  for (const want of ['Jadwal berhasil diubah', 'B-001', '2 Desember 2026', 'Jadwal sudah diubah dari Selasa, 1 Desember 2026 sesi PAGI']) {
    if (!moved.includes(want)) fail(`rescheduled proof lacks ${want}: ${moved}`);
  }
  if (await page.$('#ubah')) fail('a second move is offered');
  if ((await page.textContent('#kode-booking')).trim() !== bookingCode) fail('the booking code changed');
  await shot(page, 'rescheduled');

  await page.click('button.secondary');
  await page.waitForSelector('[role=status]');
  await shot(page, 'cancelled');
  console.log(`portal ok: ${bookingCode}, ${step} screenshots in ${shots}`);
} finally {
  await browser.close();
}
