//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`, generated from
//! the handlers' `#[utoipa::path]` and the very types they read and answer (`api`'s request
//! bodies, `views`' objects, `error::ErrorResponse`).
use crate::{api, error, views};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "antrean API",
        version = "1.0.0",
        description = "Passport-queue booking for Indonesia's immigration offices. Every channel (WhatsApp, web, app) draws on the same quota."
    ),
    servers((url = "/")),
    paths(
        api::offices,
        api::availability,
        api::start_verification,
        api::confirm_verification,
        api::create_booking,
        api::get_draw,
        api::join_waitlist,
        api::get_booking,
        api::list_bookings,
        api::cancel_booking,
        api::reschedule_booking,
        api::proof_pdf,
        api::qr_svg,
    ),
    components(schemas(
        error::ErrorResponse,
        views::Office,
        views::Availability,
        views::Booking,
        views::DrawEntry,
        views::Draw,
        views::WaitlistEntry,
        views::VerificationStarted,
        views::ContactProof,
        api::BookingBody,
    )),
    modifiers(&ContactToken, &EveryOperation)
)]
struct ApiDoc;

/// What every operation shares: the `Accept-Language` header, and besides its own answers
/// 429 past a limit and 503 when a dependency is down.
struct EveryOperation;

impl utoipa::Modify for EveryOperation {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{
            ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type,
        };
        let language = ParameterBuilder::new()
            .name("Accept-Language")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "`en` for English messages; Bahasa Indonesia otherwise.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorResponse")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(language.clone());
                let r = &mut op.responses.responses;
                r.insert(
                    "429".into(),
                    error("Too many requests (see Retry-After)").into(),
                );
                r.insert("503".into(), error("A dependency is unavailable").into());
            }
        }
    }
}

/// The contact token of `confirmVerification`, sent as `Authorization: Bearer`.
struct ContactToken;

impl utoipa::Modify for ContactToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("The contact token of confirmVerification.".to_owned());
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("contactToken", SecurityScheme::Http(scheme));
    }
}

pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_what_callers_rely_on() {
        let d = document();
        assert_eq!(d["openapi"], "3.1.0");
        let s = &d["components"]["schemas"];
        let create = &s["CreateBooking"];
        assert_eq!(
            create["required"],
            serde_json::json!(["office_code", "date", "session", "applicants"])
        );
        assert_eq!(
            create["properties"]["session"]["enum"],
            serde_json::json!(["PAGI", "SIANG"])
        );
        assert_eq!(create["properties"]["applicants"]["maxItems"], 5);
        let applicant = &s["Applicant"]["properties"];
        assert_eq!(applicant["nik"]["pattern"], "^[0-9]{16}$");
        let booking = &s["Booking"];
        for field in [
            "booking_id",
            "booking_code",
            "status",
            "office",
            "applicants",
        ] {
            assert!(
                booking["required"]
                    .as_array()
                    .unwrap()
                    .contains(&field.into()),
                "{field}"
            );
        }
        assert_eq!(
            booking["properties"]["status"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            8
        );
        assert_eq!(
            d["paths"]["/api/v1/bookings"]["post"]["responses"]["409"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/ErrorResponse"
        );
        assert_eq!(
            d["components"]["securitySchemes"]["contactToken"]["scheme"],
            "bearer"
        );
    }
}
