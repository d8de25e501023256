//! Proof of booking: the booking code as a QR code (SVG) and a one-page PDF.
//!
//! The PDF uses the standard Helvetica fonts every PDF reader has, so no font file is needed;
//! text is written in WinAnsi (Latin-1), which covers Bahasa Indonesia.
use qrcode::QrCode;
use qrcode::render::svg;

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
    /// (label, value) rows.
    pub rows: Vec<(String, String)>,
    /// Requirements and instructions, one per line.
    pub notes: Vec<String>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 256 => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// A single-page A4 PDF: title, rows, the QR code of the booking code, notes.
pub fn pdf(page: &ProofPage) -> Vec<u8> {
    let mut content = String::new();
    let mut y = 790.0;
    let mut line = |font: &str, size: f32, x: f32, y: f32, text: &str| {
        content.push_str(&format!(
            "BT /{font} {size} Tf {x} {y} Td ({}) Tj ET\n",
            escape(text)
        ));
    };
    for (i, t) in page.title_lines.iter().enumerate() {
        line(
            if i == 0 { "F2" } else { "F1" },
            if i == 0 { 16.0 } else { 11.0 },
            50.0,
            y,
            t,
        );
        y -= if i == 0 { 22.0 } else { 16.0 };
    }
    y -= 10.0;
    line("F1", 11.0, 50.0, y, "Kode booking");
    line("F2", 22.0, 50.0, y - 26.0, &page.booking_code);
    let qr_top = y + 10.0;
    y -= 56.0;
    for (label, value) in &page.rows {
        line("F1", 11.0, 50.0, y, label);
        line("F2", 11.0, 170.0, y, value);
        y -= 18.0;
    }
    y -= 12.0;
    for n in &page.notes {
        line("F1", 10.0, 50.0, y, n);
        y -= 14.0;
    }
    // The QR code, drawn module by module at the top right.
    if let Ok(q) = QrCode::new(page.booking_code.as_bytes()) {
        let w = q.width();
        let module = 150.0 / w as f32;
        content.push_str("0 0 0 rg\n");
        for (i, c) in q.to_colors().iter().enumerate() {
            if *c == qrcode::Color::Dark {
                let (cx, cy) = ((i % w) as f32, (i / w) as f32);
                content.push_str(&format!(
                    "{:.2} {:.2} {:.2} {:.2} re f\n",
                    395.0 + cx * module,
                    qr_top - (cy + 1.0) * module,
                    module,
                    module
                ));
            }
        }
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        // Latin-1 bytes: every char here is below 256 after escaping.
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(o.chars().map(|c| c as u32 as u8));
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for off in offsets {
        out.extend(format!("{off:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_is_well_formed_and_carries_the_code() {
        let bytes = pdf(&ProofPage {
            booking_code: "7K3M-9QX2-HT4R-D".into(),
            title_lines: vec![
                "Bukti Booking Antrean Paspor".into(),
                "Kantor (Bogor)".into(),
            ],
            rows: vec![("Nomor antrean".into(), "A-001".into())],
            notes: vec!["Datang 30 menit sebelum jadwal.".into()],
        });
        // One char per byte, so byte offsets stay offsets.
        let text: String = bytes
            .iter()
            .map(|&b| if b < 128 { b as char } else { '?' })
            .collect();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.contains("(7K3M-9QX2-HT4R-D) Tj"));
        assert!(text.contains("(Kantor \\(Bogor\\)) Tj"));
        // Every xref offset points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = &text[xref_at..];
        for (i, l) in table.lines().skip(3).take(6).enumerate() {
            let off: usize = l[..10].parse().unwrap();
            assert!(text[off..].starts_with(&format!("{} 0 obj", i + 1)));
        }
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let s = qr_svg("7K3M-9QX2-HT4R-D");
        assert!(s.contains("<svg") && s.contains("</svg>"));
    }
}
