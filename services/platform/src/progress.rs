//! The stages of a passport application after the counter, in order, as staff advance them
//! and applicants read them.
use antrean_proto::v1 as pb;

/// Every stage in order (the stored names are these without the `APPLICATION_STAGE_` prefix).
pub const STAGES: [pb::ApplicationStage; 7] = [
    pb::ApplicationStage::Waiting,
    pb::ApplicationStage::DocumentsChecked,
    pb::ApplicationStage::PhotoInterview,
    pb::ApplicationStage::PaymentConfirmed,
    pb::ApplicationStage::Printing,
    pb::ApplicationStage::ReadyForPickup,
    pb::ApplicationStage::PickedUp,
];

/// The stored name, e.g. `READY_FOR_PICKUP`.
pub fn name(s: pb::ApplicationStage) -> &'static str {
    let n = s.as_str_name();
    n.strip_prefix("APPLICATION_STAGE_").unwrap_or(n)
}

/// The stage a stored name (or a full enum name) stands for; unknown names are `Unspecified`.
pub fn parse(s: &str) -> pb::ApplicationStage {
    let s = s.trim().to_ascii_uppercase();
    pb::ApplicationStage::from_str_name(&s)
        .or_else(|| pb::ApplicationStage::from_str_name(&format!("APPLICATION_STAGE_{s}")))
        .unwrap_or_default()
}

/// Position in [`STAGES`] (0 for waiting; unspecified counts as waiting).
pub fn rank(s: pb::ApplicationStage) -> usize {
    STAGES.iter().position(|x| *x == s).unwrap_or(0)
}

/// The stage as applicants and staff read it.
pub fn label(s: pb::ApplicationStage) -> &'static str {
    match s {
        pb::ApplicationStage::Unspecified | pb::ApplicationStage::Waiting => "Belum diproses",
        pb::ApplicationStage::DocumentsChecked => "Berkas sudah diperiksa",
        pb::ApplicationStage::PhotoInterview => "Foto dan wawancara selesai",
        pb::ApplicationStage::PaymentConfirmed => "Pembayaran dikonfirmasi",
        pb::ApplicationStage::Printing => "Paspor sedang dicetak",
        pb::ApplicationStage::ReadyForPickup => "Paspor siap diambil",
        pb::ApplicationStage::PickedUp => "Paspor sudah diambil",
    }
}

/// What the applicant is told with the stage.
pub fn note(s: pb::ApplicationStage) -> &'static str {
    match s {
        pb::ApplicationStage::Unspecified | pb::ApplicationStage::Waiting => {
            "Datang sesuai jadwal dengan dokumen asli."
        }
        pb::ApplicationStage::DocumentsChecked => {
            "Berkas Anda lengkap; lanjutkan ke foto dan wawancara."
        }
        pb::ApplicationStage::PhotoInterview => {
            "Tunggu kode pembayaran (billing) dan bayar sebelum batas waktunya."
        }
        pb::ApplicationStage::PaymentConfirmed => "Pembayaran diterima; paspor Anda akan dicetak.",
        pb::ApplicationStage::Printing => "Kami kabari lagi saat paspor siap diambil.",
        pb::ApplicationStage::ReadyForPickup => {
            "Ambil di kantor pada jam pengambilan dengan bukti booking dan e-KTP asli; di kantor Anda mendapat nomor antrean pengambilan (C-...)."
        }
        pb::ApplicationStage::PickedUp => "Terima kasih. Simpan paspor Anda baik-baik.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_in_order() {
        for (i, s) in STAGES.iter().enumerate() {
            assert_eq!(parse(name(*s)), *s);
            assert_eq!(rank(*s), i);
            assert!(!label(*s).is_empty() && !note(*s).is_empty());
        }
        assert_eq!(
            parse("ready_for_pickup"),
            pb::ApplicationStage::ReadyForPickup
        );
        assert_eq!(
            parse("APPLICATION_STAGE_PRINTING"),
            pb::ApplicationStage::Printing
        );
        assert_eq!(parse("DONE"), pb::ApplicationStage::Unspecified);
    }
}
