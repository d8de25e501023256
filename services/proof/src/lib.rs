//! Proof of booking: what it says (from the booking, for the portal page, the PDF and the
//! e-mail attachment), the booking code as a QR code (SVG) and the A4 PDF.
//!
//! The PDF is made by krilla with an embedded font (DejaVu Sans): no hand-written PDF objects,
//! and names in any Latin script print as written.
use antrean_platform::requirements;
use antrean_proto::v1 as pb;
use qrcode::QrCode;
use qrcode::render::svg;

/// What every applicant is told, whatever they bring.
pub const ARRIVAL_NOTES: &[&str] = &[
    "Datang 30 menit sebelum jadwal; jika terlambat, booking hangus.",
    "Bawa semua dokumen asli; data pada semua dokumen harus sama.",
    "Tunjukkan bukti ini (atau kode QR-nya) di loket informasi kantor.",
];

/// The proof of booking `b` at the office named `office_name`: status, date and session,
/// then each applicant with their queue number, time, application and what they bring.
pub fn page(b: &pb::Booking, office_name: &str, office_address: &str) -> ProofPage {
    let zone = &b.timezone_abbreviation;
    let status = pb::BookingStatus::try_from(b.status)
        .map(|s| s.as_str_name().trim_start_matches("BOOKING_STATUS_"))
        .unwrap_or_default();
    let session = pb::Session::try_from(b.session)
        .map(|s| s.as_str_name().trim_start_matches("SESSION_"))
        .unwrap_or_default();
    let rows = vec![
        (
            "Status".to_owned(),
            antrean_platform::domain::booking_status_label(status).to_owned(),
        ),
        (
            "Tanggal".to_owned(),
            antrean_platform::domain::parse_date(&b.date)
                .map_or(b.date.clone(), antrean_platform::domain::tanggal),
        ),
        ("Sesi".to_owned(), session.to_owned()),
    ];
    let applicants = b
        .applicants
        .iter()
        .map(|a| ApplicantProof {
            queue_number: a.queue_number.clone(),
            name: a.name.clone(),
            schedule: format!(
                "Jadwal {} {zone}, datang paling lambat {} {zone}",
                a.scheduled_local, a.arrive_by_local
            ),
            kind: format!(
                "{}, {}{}",
                requirements::application_type_label(
                    pb::ApplicationType::try_from(a.application_type).unwrap_or_default()
                ),
                requirements::passport_type_label(requirements::passport_type(a.passport_type)),
                if a.minor { ", di bawah 17 tahun" } else { "" }
            ),
            checklist: a.requirements.clone(),
        })
        .collect();
    ProofPage {
        booking_code: b.booking_code.clone(),
        title_lines: vec![
            "Bukti Booking Antrean Paspor".to_owned(),
            office_name.to_owned(),
            office_address.to_owned(),
        ],
        rows,
        applicants,
        notes: ARRIVAL_NOTES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The QR code of `text` as an SVG document.
pub fn qr_svg(text: &str) -> String {
    QrCode::new(text.as_bytes())
        .map(|q| {
            q.render::<svg::Color>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

/// What the PDF shows.
#[derive(Debug, Clone)]
pub struct ProofPage {
    pub booking_code: String,
    pub title_lines: Vec<String>,
    /// (label, value) rows about the whole booking.
    pub rows: Vec<(String, String)>,
    /// One section per applicant.
    pub applicants: Vec<ApplicantProof>,
    /// Instructions for everyone, one per line.
    pub notes: Vec<String>,
}

/// One applicant's part of the proof.
#[derive(Debug, Clone)]
pub struct ApplicantProof {
    pub queue_number: String,
    pub name: String,
    /// e.g. "Jadwal 08:48 WIB, datang paling lambat 08:18 WIB".
    pub schedule: String,
    /// The application, e.g. "Paspor baru, Paspor biasa (non-elektronik)".
    pub kind: String,
    /// What this applicant brings.
    pub checklist: Vec<String>,
}

/// DejaVu Sans (regular and bold), embedded: it covers Indonesian and every Latin-script name
/// (diacritics, Vietnamese letters); its licence is beside it in `assets/fonts`.
static REGULAR: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf");

/// A4 in points, and the margins.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
/// The QR code's side, at the top right.
const QR_SIDE: f32 = 140.0;

/// Text laid out on A4 pages, top to bottom, starting a new page when one is full.
struct Writer {
    document: krilla::Document,
    regular: krilla::text::Font,
    bold: krilla::text::Font,
    /// Lines of the current page: (x, baseline y, bold, size, text).
    lines: Vec<(f32, f32, bool, f32, String)>,
    y: f32,
    /// Where text may end on the right (narrower beside the QR code).
    right: f32,
    /// The booking code's QR code, drawn at the top right of the first page.
    qr: Option<QrCode>,
    pages: usize,
}

impl Writer {
    /// Writes `text` wrapped at word boundaries between `x` and the right edge. The width of
    /// a character is taken as 0.72 em, wider than DejaVu Sans' capitals on average, so no
    /// line runs past the edge.
    fn text(&mut self, x: f32, bold: bool, size: f32, text: &str) {
        let per_line = (((self.right - x) / (size * 0.72)) as usize).max(8);
        let mut line = String::new();
        for word in text.split_whitespace() {
            let fits = line.chars().count() + 1 + word.chars().count() <= per_line;
            if !line.is_empty() && !fits {
                self.line(x, bold, size, std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            // A word longer than a line is cut.
            while line.chars().count() > per_line {
                let cut: String = line.chars().take(per_line).collect();
                line = line.chars().skip(per_line).collect();
                self.line(x, bold, size, cut);
            }
        }
        if !line.is_empty() {
            self.line(x, bold, size, line);
        }
    }

    fn line(&mut self, x: f32, bold: bool, size: f32, text: String) {
        if self.y + size * 1.4 > PAGE_H - MARGIN {
            self.flush();
        }
        self.y += size * 1.4;
        self.lines.push((x, self.y, bold, size, text));
    }

    fn gap(&mut self, points: f32) {
        self.y += points;
    }

    /// Draws the current page's lines and starts the next page.
    fn flush(&mut self) {
        self.draw();
        self.y = MARGIN;
        self.right = PAGE_W - MARGIN;
    }

    fn draw(&mut self) {
        let qr = if self.pages == 0 {
            self.qr.take()
        } else {
            None
        };
        self.pages += 1;
        let settings = krilla::page::PageSettings::from_wh(PAGE_W, PAGE_H);
        let Some(settings) = settings else { return };
        let mut page = self.document.start_page_with(settings);
        let mut surface = page.surface();
        for (x, y, bold, size, text) in self.lines.drain(..) {
            let font = if bold { &self.bold } else { &self.regular };
            surface.draw_text(
                krilla::geom::Point::from_xy(x, y),
                font.clone(),
                size,
                &text,
                false,
                krilla::text::TextDirection::Auto,
            );
        }
        if let Some(q) = &qr {
            let width = q.width();
            let module = QR_SIDE / width as f32;
            let mut path = krilla::geom::PathBuilder::new();
            for (i, c) in q.to_colors().iter().enumerate() {
                if *c == qrcode::Color::Dark {
                    let (cx, cy) = ((i % width) as f32, (i / width) as f32);
                    let left = PAGE_W - MARGIN - QR_SIDE + cx * module;
                    if let Some(r) =
                        krilla::geom::Rect::from_xywh(left, MARGIN + cy * module, module, module)
                    {
                        path.push_rect(r);
                    }
                }
            }
            if let Some(path) = path.finish() {
                surface.set_fill(Some(krilla::paint::Fill::default()));
                surface.draw_path(&path);
            }
        }
        surface.finish();
        page.finish();
    }
}

/// The proof of booking as A4 PDF pages: the title, the booking code and its QR code at the
/// top right, the booking's rows, one section per applicant with that person's checklist, and
/// the notes. Text is DejaVu Sans, embedded (subset): any Latin-script name prints as written.
pub fn pdf(page: &ProofPage) -> Vec<u8> {
    let (Some(regular), Some(bold)) = (
        krilla::text::Font::new(REGULAR.into(), 0),
        krilla::text::Font::new(BOLD.into(), 0),
    ) else {
        return Vec::new();
    };
    let mut w = Writer {
        document: krilla::Document::new(),
        regular,
        bold,
        lines: Vec::new(),
        y: MARGIN,
        // Beside the QR code until the text is past it.
        right: PAGE_W - MARGIN - QR_SIDE - 20.0,
        qr: QrCode::new(page.booking_code.as_bytes()).ok(),
        pages: 0,
    };
    for (i, t) in page.title_lines.iter().enumerate() {
        w.text(MARGIN, i == 0, if i == 0 { 16.0 } else { 10.5 }, t);
    }
    w.gap(10.0);
    w.text(MARGIN, false, 10.5, "Kode booking");
    w.text(MARGIN, true, 20.0, &page.booking_code);
    w.y = w.y.max(MARGIN + QR_SIDE) + 6.0;
    w.right = PAGE_W - MARGIN;
    for (label, value) in &page.rows {
        w.text(MARGIN, false, 10.5, &format!("{label}: {value}"));
    }
    for a in &page.applicants {
        w.gap(10.0);
        w.text(
            MARGIN,
            true,
            12.0,
            &format!("{} - {}", a.queue_number, a.name),
        );
        w.text(MARGIN, false, 10.5, &a.schedule);
        w.text(MARGIN, false, 10.5, &a.kind);
        w.text(MARGIN, false, 10.5, "Yang perlu dibawa:");
        for item in &a.checklist {
            w.text(MARGIN + 12.0, false, 10.0, &format!("- {item}"));
        }
    }
    w.gap(10.0);
    for n in &page.notes {
        w.text(MARGIN, false, 10.0, n);
    }
    w.draw();
    w.document.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_is_made_whatever_the_names_and_however_long() {
        let applicant = |n: usize| ApplicantProof {
            queue_number: format!("A-{n:03}"),
            name: "Nguyễn Văn Ánh".into(),
            schedule: "Jadwal 08:48 WIB, datang paling lambat 08:18 WIB".into(),
            kind: "Paspor baru, Paspor biasa (non-elektronik)".into(),
            checklist: vec!["e-KTP asli".into(); 4],
        };
        let bytes = pdf(&ProofPage {
            booking_code: "7K3M-9QX2-HT4R-D".into(),
            title_lines: vec![
                "Bukti Booking Antrean Paspor".into(),
                "Kantor Imigrasi (Bogor)".into(),
            ],
            rows: vec![("Tanggal".into(), "Selasa, 1 Desember 2026".into())],
            // Far more than a page: the rest goes on further pages.
            applicants: (1..=40).map(applicant).collect(),
            notes: vec![format!("{} ", "Datang 30 menit sebelum jadwal.").repeat(40)],
        });
        assert!(
            bytes.starts_with(b"%PDF-"),
            "{:?}",
            &bytes[..8.min(bytes.len())]
        );
        assert!(bytes.ends_with(b"%%EOF\n") || bytes.ends_with(b"%%EOF"));
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let s = qr_svg("7K3M-9QX2-HT4R-D");
        assert!(s.contains("<svg") && s.contains("</svg>"));
    }
}
