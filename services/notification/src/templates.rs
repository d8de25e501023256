//! Every text antrean sends, in Bahasa Indonesia, in one place.
//!
//! A template turns named parameters into a WhatsApp payload: plain text, an interactive
//! list, or (for messages outside the 24-hour customer-service window) an approved WhatsApp
//! template. Times and dates arrive already in the office's local form (`08:48 WIB`,
//! `Selasa, 1 Desember 2026`): the caller knows the office, the text only places them.
use serde_json::{Value, json};
use std::collections::HashMap;

/// The menu rows: ids are commands (`menu:...`), never titles.
pub const MENU_ROWS: &[(&str, &str, &str)] = &[
    ("menu:syarat", "Persyaratan", "Dokumen per jenis permohonan"),
    (
        "menu:pesan",
        "Cara pesan antrean",
        "Format #NAMA#TGLLAHIR#TGLDATANG",
    ),
    (
        "menu:tanggal",
        "Tanggal tersedia",
        "5 tanggal terdekat yang masih ada kuota",
    ),
    (
        "menu:status",
        "Cek status booking",
        "Format #STATUS#KODEBOOKING",
    ),
    (
        "menu:batal",
        "Ubah jadwal / batal",
        "#UBAH#KODEBOOKING#TGLBARU, #BATAL#KODEBOOKING, #CEK",
    ),
    (
        "menu:prioritas",
        "Layanan prioritas",
        "Lansia, disabilitas, ibu hamil atau menyusui, anak kecil",
    ),
    ("menu:bayar", "Pembayaran", "Cara membayar biaya paspor"),
    (
        "menu:ambil",
        "Pengambilan paspor",
        "Kapan dan cara mengambil paspor",
    ),
    (
        "menu:saran",
        "Apresiasi / pengaduan",
        "Kirim saran atau keluhan",
    ),
];

/// Answers to menu rows that need no data.
pub fn info_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "syarat" => {
            "*Persyaratan permohonan paspor*\n\n*1. Paspor baru (WNI dewasa):*\n- e-KTP asli\n- Kartu Keluarga asli\n- Akta kelahiran / ijazah / buku nikah / surat baptis asli (salah satu)\n\n*2. Penggantian (halaman penuh atau habis masa berlaku):*\n- e-KTP asli\n- Paspor lama asli\n\n*3. Anak di bawah 17 tahun:*\n- e-KTP asli ayah dan ibu\n- Kartu Keluarga asli\n- Akta kelahiran anak asli\n- Paspor ayah atau ibu, jika ada\n- Datang bersama ayah atau ibu\n\n*4. Paspor hilang, rusak, atau ganti nama:*\n- Surat keterangan hilang dari Kepolisian (hilang), paspor yang rusak (rusak), atau penetapan pengadilan (ganti nama)\n- e-KTP dan Kartu Keluarga asli\n- Wajib pemeriksaan (BAP) di kantor imigrasi: *tidak dapat dipesan secara online*, datang ke meja bantuan kantor.\n\nE-paspor: foto dan sidik jari diambil di kantor; tambahkan #ELEKTRONIK saat memesan. Bawa semua dokumen *asli*; data harus sama di semua dokumen. Daftar dokumen tiap pemohon ada di pesan konfirmasi dan bukti booking."
        }
        "pesan" => {
            "*Cara memesan antrean*\n\nKirim: #NAMA#TGLLAHIR#TGLDATANG\nTanggal dengan format DDMMYYYY, boleh ditambah #PAGI atau #SIANG. Untuk penggantian paspor (halaman penuh atau habis masa berlaku) tambahkan #PENGGANTIAN; untuk e-paspor tambahkan #ELEKTRONIK.\n\nContoh: #Budi Santoso#25011987#01122026#PAGI\nContoh penggantian: #Budi Santoso#25011987#01122026#PENGGANTIAN\n\nLalu balas dengan kode konfirmasi 6 angka yang kami kirim. Satu nomor WhatsApp dapat memesan untuk paling banyak 5 orang. Kirim #TGLLAYANAN untuk melihat tanggal yang masih tersedia."
        }
        "bayar" => {
            "*Pembayaran*\n\nSetelah data dan wawancara diverifikasi di kantor, petugas memberikan kode billing (SIMPONI). Bayar biaya paspor melalui bank, kantor pos, ATM, mobile/internet banking atau marketplace yang melayani PNBP dalam batas waktu pada kode billing, lalu simpan bukti pembayaran."
        }
        "ambil" => {
            "*Pengambilan paspor*\n\nKami kirim pesan WhatsApp saat paspor Anda siap diambil, dengan jam pengambilan kantor. Datang pada jam itu dengan bukti booking, tanda terima dan e-KTP asli; di kantor Anda mendapat nomor antrean pengambilan (C-001, ...) yang dipanggil di layar. Pengambilan dapat dikuasakan kepada anggota keluarga dengan surat kuasa dan KTP asli keduanya. Cek kapan saja dengan #STATUS#KODEBOOKING."
        }
        "status" => {
            "*Cek status dan progres permohonan*\n\nKirim: #STATUS#KODEBOOKING\nContoh: #STATUS#7K3M-9QX2-HT4R-D\n\nBalasan memuat jadwal Anda dan, setelah ke loket, progres tiap pemohon: berkas diperiksa, foto dan wawancara, pembayaran, pencetakan, siap diambil, sudah diambil."
        }
        "batal" => {
            "*Ubah jadwal atau batalkan booking*\n\nUbah jadwal (sekali, paling lambat sehari sebelumnya): #UBAH#KODEBOOKING#TGLBARU, boleh ditambah #PAGI atau #SIANG\nContoh: #UBAH#7K3M-9QX2-HT4R-D#03122026#SIANG\n\nBatalkan: #BATAL#KODEBOOKING\nContoh: #BATAL#7K3M-9QX2-HT4R-D\nKuota langsung dikembalikan sehingga dapat dipakai pemohon lain.\n\nLupa kode booking? Kirim #CEK untuk melihat semua booking aktif nomor ini."
        }
        "prioritas" => {
            "*Layanan prioritas*\n\nLansia (60 tahun ke atas), penyandang disabilitas, ibu hamil, ibu menyusui atau yang membawa bayi, dan anak kecil dilayani *tanpa booking online*, dari kuota prioritas harian kantor. Datang langsung ke kantor pada jam layanan dan sampaikan kepada petugas di pintu. Bagi yang tidak dapat memesan sendiri, petugas helpdesk di kantor dapat membantu memesan."
        }
        "saran" => {
            "*Apresiasi / pengaduan*\n\nKirim: #SARAN#isi pesan Anda\nContoh: #SARAN#Pelayanan loket 3 cepat dan ramah\nPesan Anda diteruskan ke kantor imigrasi ini."
        }
        _ => return None,
    })
}

/// The e-mail subject of a template.
pub fn subject(template: &str) -> &'static str {
    match template {
        "booking_held" => "Kode konfirmasi antrean paspor",
        "booking_confirmed" => "Booking antrean paspor terkonfirmasi",
        "booking_cancelled" => "Booking antrean paspor dibatalkan",
        "booking_status" => "Status booking antrean paspor",
        "booking_list" => "Booking antrean paspor Anda",
        "booking_rescheduled" => "Jadwal antrean paspor diubah",
        "booking_relocated" => "Kantor tutup: jadwal antrean paspor dipindahkan",
        "booking_not_relocated" => "Kantor tutup: booking antrean paspor dibatalkan",
        "feedback_answer" => "Jawaban atas saran Anda",
        "application_progress" => "Progres permohonan paspor",
        "pickup_reminder" => "Paspor Anda belum diambil",
        "booking_confirmed_notice" => "Booking antrean paspor terkonfirmasi",
        "reminder_h1" => "Pengingat: jadwal antrean paspor besok",
        "reminder_h1_reconfirm" => "Konfirmasi kehadiran antrean paspor besok",
        "waitlist_offer" => "Kursi antrean paspor tersedia untuk Anda",
        "verification_code" => "Kode verifikasi antrean paspor",
        "draw_won" => "Hasil undian antrean paspor: Anda mendapat kursi",
        "draw_waitlisted" => "Hasil undian antrean paspor: daftar tunggu",
        "draw_refused" => "Hasil undian antrean paspor",
        "booking_attempt_notice" => "Ada yang mencoba memesan antrean paspor atas data Anda",
        _ => "Informasi antrean paspor",
    }
}

/// The approved AUTHENTICATION template of verification codes (its code expiry, set when it
/// is created in WhatsApp Manager, is the codes' 10 minutes).
pub const AUTHENTICATION_TEMPLATE: &str = "antrean_kode_verifikasi";

/// A template's parameters: up to eight, indexed by constants, and the first `n` as a list.
struct Values<'a> {
    v: [&'a str; 8],
    n: usize,
}

impl<'a> Values<'a> {
    fn list(&self) -> &[&'a str] {
        self.v.get(..self.n).unwrap_or_default()
    }
}

/// A rendered message, ready for the Cloud API (without `to`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub body: Value,
    /// A short plain-text form, for logs of the sandbox and e-mail.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {0}")]
    Unknown(String),
    #[error("template {template} needs parameter {param}")]
    Missing { template: String, param: String },
}

fn text(body: String) -> Rendered {
    Rendered {
        body: json!({"type": "text", "text": {"preview_url": false, "body": body}}),
        text: body,
    }
}

/// An approved WhatsApp template (sendable outside the 24-hour window): its body parameters
/// in order, and the same message as plain text for logs, the sandbox and e-mail.
fn approved(name: &str, values: &[&str], text: String) -> Rendered {
    let params: Vec<Value> = values
        .iter()
        .map(|v| json!({"type": "text", "text": v}))
        .collect();
    Rendered {
        body: json!({"type": "template", "template": {
            "name": name,
            "language": {"code": "id"},
            "components": [{"type": "body", "parameters": params}]}}),
        text,
    }
}

/// A booking's schedule as the templates that carry it name it (booking's `schedule_params`).
const SCHEDULE: [&str; 7] = [
    "name",
    "booking_code",
    "office_name",
    "date",
    "session",
    "schedule_local",
    "queue_number",
];

/// Renders `template` with `params`. Every template and its parameters:
///
/// | template | parameters |
/// | --- | --- |
/// | `menu` | `office_name` |
/// | `info` | `key` (a menu row without `menu:`) |
/// | `available_dates` | `office_name`, `dates` (lines `DDMMYYYY  (Hari) PAGI n  SIANG n`) |
/// | `booking_held` | `name`, `office_name`, `date`, `session`, `code`, `expires_local` |
/// | `booking_confirmed` | `booking_code`, `queue_number`, `name`, `office_name`, `date`, `session`, `schedule_local`, `arrive_by_local`, optional `requirements` (one "- item" per line) |
/// | `booking_status` | `booking_code`, `status`, `office_name`, `date`, `session`, `queue_number`, `schedule_local`, optional `progress` (one "- name: stage" per line) |
/// | `booking_list` | `bookings` (one block per active booking; empty: none) |
/// | `booking_cancelled` | `booking_code`, `office_name`, `date`, `session` |
/// | `too_many_messages` | (none): a sender over the per-sender limit, told once |
/// | `feedback_received` | `office_name` |
/// | `error` | `message`, `format`, `example` |
/// | `booking_attempt_notice` | `name`, `booking_code`, `office_name`, `date`, `session` (approved UTILITY template `antrean_percobaan_booking`) |
/// | `booking_confirmed_notice` | `name`, `booking_code`, `office_name`, `date`, `session`, `schedule_local`, `queue_number` (approved UTILITY template `antrean_booking_terkonfirmasi`) |
/// | `application_progress` | `name`, `booking_code`, `office_name`, `stage`, `note` (approved UTILITY template `antrean_progres_paspor`) |
/// | `pickup_reminder` | `name`, `booking_code`, `office_name`, `ready_date`, `pickup_hours` (approved UTILITY template `antrean_pengingat_ambil_paspor`) |
/// | `feedback_answer` | `office_name`, `answer` (approved UTILITY template `antrean_jawaban_saran`) |
/// | `booking_relocated` | `booking_code`, `office_name`, `closed_date`, `reason`, `date`, `session`, `schedule_local`, `queue_number` (approved UTILITY template `antrean_jadwal_dipindah`) |
/// | `booking_not_relocated` | `name`, `booking_code`, `office_name`, `date`, `session`, `reason` (approved UTILITY template `antrean_kantor_tutup`) |
/// | `booking_rescheduled` | `name`, `booking_code`, `office_name`, `date`, `session`, `schedule_local`, `queue_number` (approved UTILITY template `antrean_jadwal_diubah`) |
/// | `reminder_h1` | `name`, `office_name`, `date`, `schedule_local`, `queue_number` (approved UTILITY template) |
/// | `reminder_h1_reconfirm` | `name`, `office_name`, `date`, `schedule_local`, `queue_number`, `booking_code`, `reconfirm_by_local` (approved UTILITY template) |
/// | `booking_reconfirmed` | `booking_code`, `office_name`, `date` |
/// | `waitlist_joined` | `office_name`, `date`, `session`, `position`, `people` |
/// | `waitlist_offer` | `name`, `office_name`, `date`, `session`, `code`, `expires_local` (approved UTILITY template) |
/// | `verification_code` | `code`, `minutes` (approved AUTHENTICATION template with a copy-code button) |
/// | `draw_entered` | `office_name`, `date`, `session`, `people`, `draw_at_local`, `entry_id` |
/// | `draw_won` | `name`, `office_name`, `date`, `session`, `booking_code`, `queue_number`, `schedule_local`, `arrive_by_local` (approved UTILITY template) |
/// | `draw_waitlisted` | `name`, `office_name`, `date`, `session`, `position` (approved UTILITY template) |
/// | `draw_refused` | `name`, `office_name`, `date`, `session`, `reason` (approved UTILITY template) |
pub fn render(template: &str, p: &HashMap<String, String>) -> Result<Rendered, TemplateError> {
    let get = |k: &str| -> Result<&str, TemplateError> {
        p.get(k)
            .map(String::as_str)
            .ok_or_else(|| TemplateError::Missing {
                template: template.to_owned(),
                param: k.to_owned(),
            })
    };
    // The named parameters, in order: read by constant indexes, sent as a list.
    let values = |keys: &[&str]| -> Result<Values<'_>, TemplateError> {
        let mut v = [""; 8];
        for (o, k) in v.iter_mut().zip(keys) {
            *o = get(k)?;
        }
        Ok(Values { v, n: keys.len() })
    };
    Ok(match template {
        "menu" => {
            let body = format!(
                "Selamat datang di layanan antrean paspor {}.\nSilakan pilih informasi yang Anda butuhkan.",
                get("office_name")?
            );
            let rows: Vec<Value> = MENU_ROWS
                .iter()
                .map(|(id, title, desc)| json!({"id": id, "title": title, "description": desc}))
                .collect();
            Rendered {
                body: json!({"type": "interactive", "interactive": {
                    "type": "list",
                    "body": {"text": body},
                    "action": {"button": "Lihat menu", "sections": [
                        {"title": "Layanan paspor", "rows": rows}]}}}),
                text: format!(
                    "{body}\n{}",
                    MENU_ROWS
                        .iter()
                        .map(|(_, t, d)| format!("- {t}: {d}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
        "info" => {
            let key = get("key")?;
            text(
                info_text(key)
                    .ok_or_else(|| TemplateError::Unknown(format!("info:{key}")))?
                    .to_owned(),
            )
        }
        "available_dates" => text(format!(
            "*Tanggal layanan tersedia di {}*\n\n{}\n\nPesan dengan: #NAMA#TGLLAHIR#TGLDATANG\nContoh: #Budi Santoso#25011987#{}",
            get("office_name")?,
            get("dates")?,
            p.get("first_date").map_or("01122026", String::as_str)
        )),
        "booking_held" => text(format!(
            "Data pemesanan antrean:\nNama: {}\nKantor: {}\nTanggal: {}\nSesi: {}\n\nKode konfirmasi: {}\n\nBalas pesan ini dengan kode konfirmasi di atas sebelum {} untuk mendapatkan nomor antrean. Jika tidak dikonfirmasi, pemesanan batal otomatis.",
            get("name")?,
            get("office_name")?,
            get("date")?,
            get("session")?,
            get("code")?,
            get("expires_local")?
        )),
        "booking_confirmed" => text(format!(
            "Antrean Anda terkonfirmasi.\n\nKode booking: {}\nNomor antrean: {}\nNama: {}\nKantor: {}\nTanggal: {}\nSesi: {}\nJadwal: {}\n\nDatang paling lambat {} (30 menit sebelum jadwal) dengan membawa dokumen asli. Jika terlambat, kode booking hangus. Batalkan dengan #BATAL#{} bila tidak jadi datang.{}",
            get("booking_code")?,
            get("queue_number")?,
            get("name")?,
            get("office_name")?,
            get("date")?,
            get("session")?,
            get("schedule_local")?,
            get("arrive_by_local")?,
            get("booking_code")?,
            p.get("requirements")
                .filter(|r| !r.is_empty())
                .map(|r| format!("\n\nDokumen yang dibawa:\n{r}"))
                .unwrap_or_default()
        )),
        "booking_status" => text(format!(
            "Status booking {}: *{}*\nKantor: {}\nTanggal: {}\nSesi: {}\nNomor antrean: {}\nJadwal: {}{}",
            get("booking_code")?,
            get("status")?,
            get("office_name")?,
            get("date")?,
            get("session")?,
            get("queue_number")?,
            get("schedule_local")?,
            p.get("progress")
                .filter(|r| !r.is_empty())
                .map(|r| format!("\n\nProgres permohonan:\n{r}"))
                .unwrap_or_default()
        )),
        "booking_list" => {
            let list = get("bookings")?;
            text(if list.trim().is_empty() {
                "Tidak ada booking aktif untuk nomor WhatsApp ini. Pesan dengan: #NAMA#TGLLAHIR#TGLDATANG".to_owned()
            } else {
                format!(
                    "Booking aktif untuk nomor ini:\n\n{list}\n\nUbah jadwal dengan #UBAH#KODEBOOKING#TGLBARU, batalkan dengan #BATAL#KODEBOOKING."
                )
            })
        }
        "booking_cancelled" => text(format!(
            "Booking {} di {} pada {} sesi {} telah dibatalkan. Kuota dikembalikan untuk pemohon lain. Terima kasih.",
            get("booking_code")?,
            get("office_name")?,
            get("date")?,
            get("session")?
        )),
        "too_many_messages" => text(
            "Terlalu banyak pesan dari nomor ini dalam waktu singkat. Pesan berikutnya baru kami proses setelah beberapa saat; mohon tunggu sebentar sebelum mengirim lagi.".to_owned(),
        ),
        "feedback_received" => text(format!(
            "Terima kasih. Pesan Anda sudah kami terima dan diteruskan ke {}.",
            get("office_name")?
        )),
        "error" => text(format!(
            "{}\n\nFormat: {}\nContoh: {}\n\nKetik MENU untuk bantuan.",
            get("message")?,
            get("format")?,
            get("example")?
        )),
        "booking_attempt_notice" => {
            let vals = values(&["name", "booking_code", "office_name", "date", "session"])?;
            let v = vals.v;
            approved(
                "antrean_percobaan_booking",
                vals.list(),
                format!(
                    "Seseorang dari nomor lain mencoba memesan antrean paspor untuk {}, yang sudah memiliki booking aktif {} di {} pada {} sesi {}. Booking Anda tetap berlaku. Bila itu bukan permintaan Anda, abaikan pesan ini dan jangan berikan kode booking kepada siapa pun.",
                    v[0], v[1], v[2], v[3], v[4]
                ),
            )
        }
        "booking_confirmed_notice" => {
            let vals = values(&SCHEDULE)?;
            let v = vals.v;
            approved(
                "antrean_booking_terkonfirmasi",
                vals.list(),
                format!(
                    "Antrean paspor atas nama {} terkonfirmasi.\n\nKode booking: {}\nKantor: {}\nTanggal: {}\nSesi: {}\nJadwal: {}\nNomor antrean: {}\n\nDatang 30 menit sebelum jadwal; jika terlambat, kode booking hangus. Bawa e-KTP dan Kartu Keluarga asli, serta dokumen pendukung sesuai jenis permohonan (daftar lengkap di bukti booking). Simpan kode booking ini untuk cek, ubah jadwal atau batal.",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6]
                ),
            )
        }
        "application_progress" => {
            let vals = values(&["name", "booking_code", "office_name", "stage", "note"])?;
            let v = vals.v;
            approved(
                "antrean_progres_paspor",
                vals.list(),
                format!(
                    "Progres permohonan paspor {} (kode booking {}) di {}: *{}*.\n{}\n\nCek progres kapan saja dengan #STATUS#{}.",
                    v[0], v[1], v[2], v[3], v[4], v[1]
                ),
            )
        }
        "pickup_reminder" => {
            let vals = values(&[
                "name",
                "booking_code",
                "office_name",
                "ready_date",
                "pickup_hours",
            ])?;
            let v = vals.v;
            approved(
                "antrean_pengingat_ambil_paspor",
                vals.list(),
                format!(
                    "Paspor {} (kode booking {}) sudah siap diambil di {} sejak {} dan belum diambil. Ambil pada jam pengambilan {} dengan bukti booking dan e-KTP asli.",
                    v[0], v[1], v[2], v[3], v[4]
                ),
            )
        }
        "feedback_answer" => {
            let vals = values(&["office_name", "answer"])?;
            let v = vals.v;
            approved(
                "antrean_jawaban_saran",
                vals.list(),
                format!("Jawaban {} atas saran Anda:\n\n{}", v[0], v[1]),
            )
        }
        "booking_relocated" => {
            let vals = values(&[
                "booking_code",
                "office_name",
                "closed_date",
                "reason",
                "date",
                "session",
                "schedule_local",
                "queue_number",
            ])?;
            let v = vals.v;
            approved(
                "antrean_jadwal_dipindah",
                vals.list(),
                format!(
                    "{} tutup pada {} ({}). Booking {} dipindahkan ke tanggal terdekat yang masih ada kuota:\n\nTanggal: {}\nSesi: {}\nJadwal: {}\nNomor antrean: {}\n\nBila tanggal ini tidak cocok, ubah jadwal sekali tanpa biaya dengan #UBAH#{}#TGLBARU, atau batalkan dengan #BATAL#{}.",
                    v[1], v[2], v[3], v[0], v[4], v[5], v[6], v[7], v[0], v[0]
                ),
            )
        }
        "booking_not_relocated" => {
            let vals = values(&["name", "booking_code", "office_name", "date", "session", "reason"])?;
            let v = vals.v;
            approved(
                "antrean_kantor_tutup",
                vals.list(),
                format!(
                    "Mohon maaf, {} tutup pada {} ({}) dan tidak ada tanggal pengganti yang masih memiliki kuota untuk booking {} atas nama {} (sesi {}). Booking dibatalkan. Anda dapat masuk daftar tunggu dengan #TUNGGU#NAMA#TGLLAHIR#TGLDATANG.",
                    v[2], v[3], v[5], v[1], v[0], v[4]
                ),
            )
        }
        "booking_rescheduled" => {
            let vals = values(&SCHEDULE)?;
            let v = vals.v;
            approved(
                "antrean_jadwal_diubah",
                vals.list(),
                format!(
                    "Jadwal antrean paspor {} sudah diubah.\n\nKode booking: {}\nKantor: {}\nTanggal: {}\nSesi: {}\nJadwal: {}\nNomor antrean: {}\n\nJadwal lama tidak berlaku lagi dan kuotanya dikembalikan. Perubahan jadwal hanya dapat dilakukan sekali.",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6]
                ),
            )
        }
        "reminder_h1" => {
            let vals = values(&[
                "name",
                "office_name",
                "date",
                "schedule_local",
                "queue_number",
            ])?;
            let v = vals.v;
            approved(
                "antrean_pengingat_h1",
                vals.list(),
                format!(
                    "Pengingat: {} besok {} pukul {} di {}, nomor antrean {}.",
                    v[0], v[2], v[3], v[1], v[4]
                ),
            )
        }
        "reminder_h1_reconfirm" => {
            let vals = values(&[
                "name",
                "office_name",
                "date",
                "schedule_local",
                "queue_number",
                "booking_code",
                "reconfirm_by_local",
            ])?;
            let v = vals.v;
            approved(
                "antrean_pengingat_h1_konfirmasi",
                vals.list(),
                format!(
                    "Pengingat: {} besok {} pukul {} di {}, nomor antrean {}.\nBalas #YA#{} sebelum {} untuk memastikan kehadiran. Bila tidak, booking dibatalkan dan kursinya diberikan kepada pemohon di daftar tunggu.",
                    v[0], v[2], v[3], v[1], v[4], v[5], v[6]
                ),
            )
        }
        "booking_reconfirmed" => text(format!(
            "Terima kasih. Kehadiran Anda untuk booking {} di {} pada {} sudah dikonfirmasi. Datang tepat waktu dengan membawa dokumen asli.",
            get("booking_code")?,
            get("office_name")?,
            get("date")?
        )),
        "waitlist_joined" => text(format!(
            "Anda masuk daftar tunggu {} untuk {} sesi {} ({} orang), urutan ke-{}.\n\nBila ada kursi kosong untuk seluruh rombongan, kami kirim kode konfirmasi lewat WhatsApp. Balas kode itu sebelum batas waktunya untuk mendapatkan nomor antrean.",
            get("office_name")?,
            get("date")?,
            get("session")?,
            get("people")?,
            get("position")?
        )),
        "waitlist_offer" => {
            let vals = values(&[
                "name",
                "office_name",
                "date",
                "session",
                "code",
                "expires_local",
            ])?;
            let v = vals.v;
            approved(
                "antrean_tawaran_daftar_tunggu",
                vals.list(),
                format!(
                    "Kursi tersedia dari daftar tunggu: {} di {} pada {} sesi {}.\nKode konfirmasi: {}\nBalas dengan kode ini sebelum {}; bila tidak, kursi diberikan kepada pemohon berikutnya.",
                    v[0], v[1], v[2], v[3], v[4], v[5]
                ),
            )
        }
        "draw_entered" => text(format!(
            "Permintaan Anda masuk *undian* antrean {} untuk {} sesi {} ({} orang).\n\nTanggal ini baru dibuka: kursi dibagikan dengan undian, bukan siapa cepat. Hasilnya kami kirim sekitar pukul {}. Nomor undian Anda: {}\n\nUrutan undian dapat diperiksa siapa saja setelah diundi.",
            get("office_name")?,
            get("date")?,
            get("session")?,
            get("people")?,
            get("draw_at_local")?,
            get("entry_id")?
        )),
        "draw_won" => {
            let vals = values(&[
                "name",
                "office_name",
                "date",
                "session",
                "booking_code",
                "queue_number",
                "schedule_local",
                "arrive_by_local",
            ])?;
            let v = vals.v;
            approved(
                "antrean_undian_menang",
                vals.list(),
                format!(
                    "Selamat, {} mendapat kursi dari undian {} pada {} sesi {}.\nKode booking: {}\nNomor antrean: {}\nJadwal: {}\nDatang paling lambat {} dengan membawa dokumen asli.",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
                ),
            )
        }
        "draw_waitlisted" => {
            let vals = values(&["name", "office_name", "date", "session", "position"])?;
            let v = vals.v;
            approved(
                "antrean_undian_daftar_tunggu",
                vals.list(),
                format!(
                    "Undian {} pada {} sesi {}: {} belum mendapat kursi dan masuk daftar tunggu, urutan ke-{}. Bila ada kursi kosong, kami kirim kode konfirmasi lewat WhatsApp.",
                    v[1], v[2], v[3], v[0], v[4]
                ),
            )
        }
        "draw_refused" => {
            let vals = values(&["name", "office_name", "date", "session", "reason"])?;
            let v = vals.v;
            approved(
                "antrean_undian_tidak_lolos",
                vals.list(),
                format!(
                    "Undian {} pada {} sesi {}: permintaan untuk {} tidak dapat diproses ({}).",
                    v[1], v[2], v[3], v[0], v[4]
                ),
            )
        }
        "verification_code" => {
            let (code, minutes) = (get("code")?, get("minutes")?);
            // An AUTHENTICATION template: Meta fixes the body ("*{{1}}* adalah kode
            // verifikasi Anda." with the security recommendation and the expiry footer); the
            // code is the body's one parameter and again the copy-code button's.
            Rendered {
                body: json!({"type": "template", "template": {
                    "name": AUTHENTICATION_TEMPLATE,
                    "language": {"code": "id"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": code}]},
                        {"type": "button", "sub_type": "url", "index": "0",
                         "parameters": [{"type": "text", "text": code}]}]}}),
                text: format!(
                    "*{code}* adalah kode verifikasi Anda. Demi keamanan, jangan bagikan kode ini.\nKode ini kedaluwarsa dalam {minutes} menit."
                ),
            }
        }
        other => return Err(TemplateError::Unknown(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_menu_fits_one_whatsapp_list() {
        let r = render("menu", &params(&[("office_name", "Kantor Imigrasi Bogor")])).unwrap();
        let rows = r.body["interactive"]["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap();
        assert!(rows.len() <= 10);
        for row in rows {
            assert!(row["title"].as_str().unwrap().chars().count() <= 24);
            assert!(row["description"].as_str().unwrap().chars().count() <= 72);
        }
        assert!(
            r.body["interactive"]["action"]["button"]
                .as_str()
                .unwrap()
                .len()
                <= 20
        );
        for (id, _, _) in MENU_ROWS {
            let key = id.trim_start_matches("menu:");
            assert!(info_text(key).is_some() || key == "tanggal", "{key}");
        }
    }

    #[test]
    fn confirmed_text_carries_the_contract_lines() {
        let mut p = params(&[
            ("booking_code", "7K3M-9QX2-HT4R-D"),
            ("queue_number", "A-012"),
            ("name", "Budi"),
            ("office_name", "Kantor Imigrasi Bogor"),
            ("date", "Selasa, 1 Desember 2026"),
            ("session", "PAGI"),
            ("schedule_local", "08:48 WIB"),
            ("arrive_by_local", "08:18 WIB"),
        ]);
        let r = render("booking_confirmed", &p).unwrap();
        assert!(r.text.contains("Kode booking: 7K3M-9QX2-HT4R-D\n"));
        assert!(r.text.contains("Nomor antrean: A-012\n"));
        assert!(r.text.contains("Jadwal: 08:48 WIB\n"));
        assert!(r.text.contains("dokumen asli"));
        assert!(!r.text.contains("Dokumen yang dibawa"));
        p.insert(
            "requirements".into(),
            "- e-KTP asli\n- Paspor lama asli".into(),
        );
        let r = render("booking_confirmed", &p).unwrap();
        assert!(
            r.text
                .ends_with("\n\nDokumen yang dibawa:\n- e-KTP asli\n- Paspor lama asli")
        );
    }

    #[test]
    fn verification_codes_go_as_an_authentication_template_with_the_code_twice() {
        let r = render(
            "verification_code",
            &params(&[("code", "482913"), ("minutes", "10")]),
        )
        .unwrap();
        let t = &r.body["template"];
        assert_eq!(r.body["type"], "template");
        assert_eq!(t["name"], AUTHENTICATION_TEMPLATE);
        assert_eq!(t["components"][0]["parameters"][0]["text"], "482913");
        assert_eq!(t["components"][1]["sub_type"], "url");
        assert_eq!(t["components"][1]["parameters"][0]["text"], "482913");
        assert!(r.text.starts_with("*482913* adalah kode verifikasi Anda."));
        assert!(r.text.contains("10 menit"));
    }

    #[test]
    fn missing_parameters_and_unknown_templates_are_errors() {
        assert_eq!(
            render("booking_held", &params(&[])),
            Err(TemplateError::Missing {
                template: "booking_held".into(),
                param: "name".into()
            })
        );
        assert!(matches!(
            render("nope", &params(&[])),
            Err(TemplateError::Unknown(_))
        ));
    }
}
