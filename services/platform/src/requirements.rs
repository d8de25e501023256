//! What each applicant brings and which applications may be booked where: one source for the
//! booking service (which puts each applicant's list in the booking), the channels' forms and
//! the proof of booking.
use antrean_proto::v1 as pb;
use chrono::{Datelike, NaiveDate};

/// Below this age on the booking's date an applicant comes with a parent and the parents'
/// documents.
pub const ADULT_AGE: u32 = 17;

/// Whole years from `birth` to `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// Under 17 on `on`.
pub fn minor_on(birth: NaiveDate, on: NaiveDate) -> bool {
    age_on(birth, on) < ADULT_AGE
}

/// Lost, damaged and name-change applications need a police report, the damaged passport or
/// a court order and an examination interview (BAP): the office's help desk books them, no
/// online channel does.
pub fn office_only(t: pb::ApplicationType) -> bool {
    matches!(
        t,
        pb::ApplicationType::Lost | pb::ApplicationType::Damaged | pb::ApplicationType::NameChange
    )
}

/// Why an office-only application is refused online, and what to do, in Bahasa Indonesia.
pub const OFFICE_ONLY_ID: &str = "Permohonan paspor hilang, rusak atau ganti nama hanya dilayani langsung di kantor imigrasi (perlu laporan polisi, paspor yang rusak atau penetapan pengadilan, dan wawancara BAP). Datanglah ke meja bantuan kantor pada jam layanan.";
pub const OFFICE_ONLY_EN: &str =
    "lost, damaged and name-change applications are handled only at the office's help desk";

/// The application type as applicants read it.
pub fn application_type_label(t: pb::ApplicationType) -> &'static str {
    match t {
        pb::ApplicationType::Unspecified | pb::ApplicationType::New => "Paspor baru",
        pb::ApplicationType::Replacement => "Penggantian (habis berlaku atau halaman penuh)",
        pb::ApplicationType::Lost => "Penggantian karena hilang (hanya di kantor)",
        pb::ApplicationType::Damaged => "Penggantian karena rusak (hanya di kantor)",
        pb::ApplicationType::NameChange => "Perubahan nama (hanya di kantor)",
    }
}

/// The passport type as applicants read it.
pub fn passport_type_label(t: pb::PassportType) -> &'static str {
    match t {
        pb::PassportType::Electronic => "Paspor elektronik (e-paspor)",
        pb::PassportType::Unspecified | pb::PassportType::NonElectronic => {
            "Paspor biasa (non-elektronik)"
        }
    }
}

/// The passport type a request names, unspecified taken as the ordinary passport.
pub fn passport_type(value: i32) -> pb::PassportType {
    match pb::PassportType::try_from(value) {
        Ok(pb::PassportType::Electronic) => pb::PassportType::Electronic,
        _ => pb::PassportType::NonElectronic,
    }
}

/// What one applicant brings, in order: identity documents (the parents' for a child), the
/// documents of the application type, then what applies to everyone.
pub fn requirements(
    application: pb::ApplicationType,
    passport: pb::PassportType,
    minor: bool,
) -> Vec<&'static str> {
    let mut list = if minor {
        vec![
            "e-KTP asli ayah dan ibu",
            "Kartu Keluarga asli",
            "Akta kelahiran anak asli",
            "Paspor ayah atau ibu, jika ada",
            "Didampingi ayah atau ibu saat datang (atau wali dengan surat perwalian)",
        ]
    } else {
        vec!["e-KTP asli", "Kartu Keluarga asli"]
    };
    match application {
        pb::ApplicationType::Unspecified | pb::ApplicationType::New => {
            if !minor {
                list.push("Akta kelahiran, ijazah, buku nikah atau surat baptis asli (salah satu)");
            }
        }
        pb::ApplicationType::Replacement => list.push("Paspor lama asli"),
        pb::ApplicationType::Lost => {
            list.push("Surat keterangan hilang dari kepolisian");
            list.push("Akta kelahiran, ijazah atau buku nikah asli (salah satu)");
            list.push("Siap diwawancarai (Berita Acara Pemeriksaan)");
        }
        pb::ApplicationType::Damaged => {
            list.push("Paspor yang rusak");
            list.push("Siap diwawancarai (Berita Acara Pemeriksaan)");
        }
        pb::ApplicationType::NameChange => {
            list.push("Paspor lama asli");
            list.push("Penetapan pengadilan atau dokumen Dukcapil tentang perubahan nama");
        }
    }
    if passport == pb::PassportType::Electronic {
        list.push("E-paspor: foto dan sidik jari diambil di kantor; biayanya lebih tinggi dari paspor biasa");
    }
    list.push("Data pada semua dokumen harus sama");
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn age_turns_on_the_birthday() {
        assert_eq!(age_on(d(2010, 3, 15), d(2027, 3, 14)), 16);
        assert_eq!(age_on(d(2010, 3, 15), d(2027, 3, 15)), 17);
        assert!(minor_on(d(2010, 3, 15), d(2027, 3, 14)));
        assert!(!minor_on(d(2010, 3, 15), d(2027, 3, 15)));
        assert_eq!(age_on(d(2030, 1, 1), d(2027, 1, 1)), 0);
    }

    #[test]
    fn a_child_brings_the_parents_documents() {
        let child = requirements(
            pb::ApplicationType::New,
            pb::PassportType::NonElectronic,
            true,
        );
        for item in [
            "e-KTP asli ayah dan ibu",
            "Kartu Keluarga asli",
            "Akta kelahiran anak asli",
            "Paspor ayah atau ibu, jika ada",
        ] {
            assert!(child.contains(&item), "{item}");
        }
        assert!(
            child
                .iter()
                .any(|i| i.starts_with("Didampingi ayah atau ibu"))
        );
        assert!(!child.contains(&"e-KTP asli"));
        let adult = requirements(
            pb::ApplicationType::New,
            pb::PassportType::NonElectronic,
            false,
        );
        assert!(adult.contains(&"e-KTP asli"));
        assert!(!adult.iter().any(|i| i.contains("ayah")));
    }

    #[test]
    fn each_type_names_its_documents() {
        let has = |t, item: &str| {
            requirements(t, pb::PassportType::NonElectronic, false)
                .iter()
                .any(|i| i.contains(item))
        };
        assert!(has(pb::ApplicationType::Replacement, "Paspor lama"));
        assert!(!has(pb::ApplicationType::New, "Paspor lama"));
        assert!(has(pb::ApplicationType::Lost, "kepolisian"));
        assert!(has(pb::ApplicationType::Damaged, "rusak"));
        assert!(has(pb::ApplicationType::NameChange, "perubahan nama"));
        assert!(
            requirements(
                pb::ApplicationType::New,
                pb::PassportType::Electronic,
                false
            )
            .iter()
            .any(|i| i.starts_with("E-paspor"))
        );
    }

    #[test]
    fn only_the_office_takes_lost_damaged_and_name_change() {
        assert!(office_only(pb::ApplicationType::Lost));
        assert!(office_only(pb::ApplicationType::Damaged));
        assert!(office_only(pb::ApplicationType::NameChange));
        assert!(!office_only(pb::ApplicationType::New));
        assert!(!office_only(pb::ApplicationType::Replacement));
        assert_eq!(passport_type(0), pb::PassportType::NonElectronic);
        assert_eq!(passport_type(2), pb::PassportType::Electronic);
        assert_eq!(passport_type(99), pb::PassportType::NonElectronic);
    }
}
