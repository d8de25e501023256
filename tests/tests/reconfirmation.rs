//! Reconfirmation, where an office wants it: the H-1 reminder asks for `#YA#<kode>`, a
//! booking not reconfirmed by the cut-off is released, and its seat goes to the waitlist.
use antrean_platform::actor::{Role, as_dev_admin};
use antrean_proto::v1 as pb;
use antrean_tests::*;
use tonic::Code;

const DAY: &str = "2026-12-01";

fn template_to(w: &WhatsApp, to: &str, name: &str) -> Option<serde_json::Value> {
    w.cloud_api
        .messages()
        .into_iter()
        .rfind(|m| m.to == to && m.body["template"]["name"] == name)
        .map(|m| m.body)
}

async fn wait_template(w: &WhatsApp, to: &str, name: &str) -> serde_json::Value {
    for _ in 0..200 {
        if let Some(b) = template_to(w, to, name) {
            return b;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {name} reached {to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreconfirmed_bookings_are_released_to_the_waitlist() {
    let w = start_with_whatsapp().await;
    let s = &w.system;
    let setting = |token: String, required: bool| {
        let mut b = s.booking.clone();
        async move {
            b.set_reconfirmation(as_staff(
                &token,
                pb::SetReconfirmationRequest {
                    office_code: "BOGOR".into(),
                    required,
                    cutoff_local: "20:00".into(),
                },
            ))
            .await
        }
    };
    let denied = setting(staff_token(Role::OfficeStaff, "BOGOR"), true)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let on = setting(staff_token(Role::OfficeHead, "BOGOR"), true)
        .await
        .unwrap()
        .into_inner();
    assert!(on.required && on.cutoff_local == "20:00");

    s.quota
        .clone()
        .set_capacity(as_dev_admin(pb::SetCapacityRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            session: pb::Session::Pagi as i32,
            capacity: 2,
        }))
        .await
        .unwrap();
    let birth = "1983-04-09";
    let mut booked = Vec::new();
    for i in 0..2u32 {
        booked.push(
            s.book(create(
                &format!("re-{i}"),
                "BOGOR",
                DAY,
                pb::Session::Pagi,
                &format!("08139000000{i}"),
                vec![applicant(&nik(birth, 300 + i), "Pemohon Ulang", birth)],
            ))
            .await,
        );
    }
    let joined = s
        .booking
        .clone()
        .join_waitlist(pb::JoinWaitlistRequest {
            office_code: "BOGOR".into(),
            date: DAY.into(),
            session: pb::Session::Pagi as i32,
            contact: Some(pb::ContactInput {
                phone: "081390000009".into(),
                ..Default::default()
            }),
            applicants: vec![applicant(&nik(birth, 309), "Pemohon Tunggu", birth)],
            channel: pb::Channel::Whatsapp as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(joined.position, 1);

    // The H-1 reminders (due at 09:00 the day before, already past) ask for a reply.
    s.bookings.sweep().await.unwrap();
    for (i, b) in booked.iter().enumerate() {
        let body = wait_template(
            &w,
            &format!("628139000000{i}"),
            "antrean_pengingat_h1_konfirmasi",
        )
        .await;
        let params = &body["template"]["components"][0]["parameters"];
        assert_eq!(params[5]["text"], b.booking_code.as_str());
        assert_eq!(params[6]["text"], "20:00 WIB, Senin, 30 November 2026");
    }
    let yes = w
        .say(
            BOGOR_NUMBER,
            "6281390000000",
            &format!("#YA#{}", booked[0].booking_code),
        )
        .await;
    assert!(yes.contains("sudah dikonfirmasi"), "{yes}");
    let wrong = w.say(BOGOR_NUMBER, "6281390000000", "#YA").await;
    assert!(wrong.contains("#YA#KODEBOOKING"), "{wrong}");

    // 20:01 WIB: the one who did not answer is released; the waitlist gets the seat.
    s.clock.set("2026-11-30T13:01:00Z".parse().unwrap());
    s.bookings.sweep().await.unwrap();
    let status = |code: String, phone: &'static str| {
        let mut b = s.booking.clone();
        async move {
            b.get_booking(pb::GetBookingRequest {
                key: Some(pb::get_booking_request::Key::BookingCode(code)),
                contact_phone: phone.into(),
                office_code: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
        }
    };
    assert_eq!(
        status(booked[0].booking_code.clone(), "081390000000").await,
        pb::BookingStatus::Confirmed as i32
    );
    assert_eq!(
        status(booked[1].booking_code.clone(), "081390000001").await,
        pb::BookingStatus::Cancelled as i32
    );
    assert_eq!(s.bookings.promote_waitlists().await.unwrap(), 1);
    wait_template(&w, "6281390000009", "antrean_tawaran_daftar_tunggu").await;
}
