//! The proof of booking as a PDF readers accept, with every name printed as written: names
//! with diacritics, Vietnamese letters, apostrophes and hyphens pass `pdfinfo` without error
//! and come back exactly from `pdftotext` (poppler-utils, which `make test` installs).
use antrean_proto::v1 as pb;
use antrean_tests::*;

#[tokio::test]
async fn proof_pdfs_carry_every_latin_name_exactly() {
    let w = start_with_whatsapp().await;
    let names = ["Dewi Pérez", "Nguyễn Văn Ánh", "Ma'ruf Şahin-Öztürk"];
    let birth = "1990-05-02";
    let booked = w
        .system
        .book(create(
            "pdf-1",
            "BOGOR",
            "2026-12-01",
            pb::Session::Pagi,
            "081234567890",
            names
                .iter()
                .enumerate()
                .map(|(i, n)| applicant(&nik(birth, i as u32 + 1), n, birth))
                .collect(),
        ))
        .await;
    let r = w
        .http
        .get(format!(
            "{}/api/v1/bookings/{}/proof.pdf?phone=081234567890",
            w.gateway, booked.booking_code
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("antrean-proof-{}.pdf", std::process::id()));
    std::fs::write(&file, &bytes).unwrap();

    let info = std::process::Command::new("pdfinfo")
        .arg(&file)
        .output()
        .expect("pdfinfo (poppler-utils; `make test` installs it)");
    let stderr = String::from_utf8_lossy(&info.stderr);
    assert!(
        info.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("595.28 x 841.89"), "not A4: {info}");

    let text = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for name in names {
        assert!(text.contains(name), "{name} not in:\n{text}");
    }
    assert!(text.contains(&booked.booking_code), "{text}");
    assert!(text.contains("Yang perlu dibawa"), "{text}");
    let _ = std::fs::remove_file(&file);
}
