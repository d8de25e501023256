//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`.
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

pub fn document() -> Value {
    let lang = json!({"name": "Accept-Language", "in": "header", "required": false,
        "description": "`en` for English messages; Bahasa Indonesia otherwise.",
        "schema": {"type": "string"}});
    let phone_q = json!({"name": "phone", "in": "query", "required": true,
        "description": "The contact phone of the booking (second factor).",
        "schema": {"type": "string", "example": "081234567890"}});
    let code_p = json!({"name": "booking_code", "in": "path", "required": true,
        "schema": {"type": "string", "example": "7K3M-9QX2-HT4R-D"}});
    let common = |extra: Vec<(&str, Value)>| {
        let mut m = serde_json::Map::new();
        for (k, v) in extra {
            m.insert(k.to_owned(), v);
        }
        m.insert(
            "429".into(),
            error_response("Too many requests (see Retry-After)"),
        );
        m.insert("503".into(), error_response("A dependency is unavailable"));
        Value::Object(m)
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "antrean API",
            "version": "1.0.0",
            "description": "Passport-queue booking for Indonesia's immigration offices. Every channel (WhatsApp, web, app) draws on the same quota."
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/offices": {"get": {
                "operationId": "listOffices",
                "summary": "Immigration offices and their WhatsApp numbers",
                "parameters": [lang],
                "responses": common(vec![("200", json!({"description": "Offices",
                    "content": {"application/json": {"schema": {"type": "array",
                        "items": {"$ref": "#/components/schemas/Office"}}}}}))])
            }},
            "/api/v1/offices/{code}/availability": {"get": {
                "operationId": "getAvailability",
                "summary": "Open dates and remaining seats per session",
                "parameters": [
                    {"name": "code", "in": "path", "required": true, "schema": {"type": "string", "example": "BOGOR"}},
                    {"name": "from", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}},
                    lang
                ],
                "responses": common(vec![
                    ("200", ok("Availability", "Availability")),
                    ("400", error_response("Invalid dates or range")),
                    ("404", error_response("Unknown office")),
                ])
            }},
            "/api/v1/verifications": {"post": {
                "operationId": "startVerification",
                "summary": "Prove a phone before booking: a 6-digit code goes to it by WhatsApp (authentication template) and to the e-mail when given",
                "parameters": [lang],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["phone"],
                    "properties": {"phone": {"type": "string", "example": "081234567890"},
                                   "email": {"type": "string", "format": "email"}}}}}},
                "responses": common(vec![
                    ("202", ok("Code sent", "VerificationStarted")),
                    ("400", error_response("Invalid phone or e-mail (see fields)")),
                ])
            }},
            "/api/v1/verifications/{verification_id}/confirm": {"post": {
                "operationId": "confirmVerification",
                "summary": "The code for a contact token (30 minutes), sent as `Authorization: Bearer` with bookings and waitlist joins",
                "parameters": [
                    {"name": "verification_id", "in": "path", "required": true, "schema": {"type": "string"}},
                    lang
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["code"],
                    "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}}}}},
                "responses": common(vec![
                    ("200", ok("Verified", "ContactProof")),
                    ("400", error_response("WRONG_CODE (with attempts_left) or invalid fields")),
                    ("404", error_response("Unknown verification")),
                    ("410", error_response("EXPIRED, or VERIFICATION_ENDED after five wrong codes")),
                ])
            }},
            "/api/v1/bookings": {"post": {
                "operationId": "createBooking",
                "summary": "Book 1-5 applicants for the verified contact: confirmed at once with booking code, queue numbers and schedule",
                "security": [{"contactToken": []}],
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": true,
                     "description": "Unique per booking attempt; a replay answers the first result.",
                     "schema": {"type": "string", "maxLength": 200}},
                    lang
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateBooking"}}}},
                "responses": common(vec![
                    ("201", ok("Confirmed", "Booking")),
                    ("202", ok("The date has just opened: an entry of its release draw, decided at draw_at", "DrawEntry")),
                    ("400", error_response("Invalid fields (see fields) or a closed date")),
                    ("401", error_response("CONTACT_NOT_VERIFIED: no live contact token; nothing is held")),
                    ("403", error_response("BLOCKED_NO_SHOW")),
                    ("404", error_response("Unknown office")),
                    ("409", error_response("SOLD_OUT, ALREADY_BOOKED, LIMIT_REACHED, IDEMPOTENCY_KEY_REUSED, NOT_RELEASED (with opens_at), DRAW_RUNNING (with retry_at), ALREADY_ENTERED")),
                ])
            }},
            "/api/v1/draws/{office_code}/{date}": {"get": {
                "operationId": "getDraw",
                "summary": "A release draw as published: before the window the seed's SHA-256 and the beacon round; at the close the frozen entry list's SHA-256; after the draw the seed, the beacon's randomness and every entry (pseudonymous id, session, seats, position, outcome). `antrean-draw verify` recomputes the order",
                "parameters": [
                    {"name": "office_code", "in": "path", "required": true, "schema": {"type": "string", "example": "BOGOR"}},
                    {"name": "date", "in": "path", "required": true, "schema": {"type": "string", "format": "date"}},
                    lang
                ],
                "responses": common(vec![
                    ("200", ok("The draw", "Draw")),
                    ("400", error_response("Invalid date")),
                    ("404", error_response("NO_DRAW (the date's release has no draw window) or unknown office")),
                ])
            }},
            "/api/v1/waitlist": {"post": {
                "operationId": "joinWaitlist",
                "summary": "Join the waitlist of a full session for the verified contact; freed seats are offered in line order by WhatsApp with a confirmation code (confirm it by replying to the message)",
                "security": [{"contactToken": []}],
                "parameters": [lang],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateBooking"}}}},
                "responses": common(vec![
                    ("201", ok("In line (joining again answers the same place)", "WaitlistEntry")),
                    ("400", error_response("Invalid fields")),
                    ("401", error_response("CONTACT_NOT_VERIFIED")),
                    ("403", error_response("BLOCKED_NO_SHOW")),
                    ("404", error_response("Unknown office")),
                    ("409", error_response("SEATS_AVAILABLE (book directly) or NOT_BOOKABLE")),
                ])
            }},
            "/api/v1/bookings/{booking_code}": {"get": {
                "operationId": "getBooking",
                "summary": "A booking by code; a wrong phone answers 404 like an unknown code",
                "parameters": [code_p, phone_q, lang],
                "responses": common(vec![
                    ("200", ok("The booking", "Booking")),
                    ("400", error_response("Missing phone")),
                    ("404", error_response("Unknown code or wrong phone")),
                ])
            }},
            "/api/v1/bookings/{booking_code}/proof.pdf": {"get": {
                "operationId": "getProofPdf",
                "summary": "Proof of booking as a PDF (code, QR code, queue numbers, schedule, checklist)",
                "parameters": [code_p, phone_q, lang],
                "responses": common(vec![
                    ("200", json!({"description": "PDF", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}})),
                    ("404", error_response("Unknown code or wrong phone")),
                ])
            }},
            "/api/v1/bookings/{booking_code}/qr.svg": {"get": {
                "operationId": "getQrCode",
                "summary": "The booking code as a QR code, scanned at the door",
                "parameters": [code_p, phone_q, lang],
                "responses": common(vec![
                    ("200", json!({"description": "SVG", "content": {"image/svg+xml": {"schema": {"type": "string"}}}})),
                    ("404", error_response("Unknown code or wrong phone")),
                ])
            }},
            "/api/v1/bookings/{booking_code}/cancel": {"post": {
                "operationId": "cancelBooking",
                "summary": "Cancel; the seats return at once",
                "parameters": [code_p, lang],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["phone"],
                    "properties": {"phone": {"type": "string"}}}}}},
                "responses": common(vec![
                    ("200", ok("Cancelled", "Booking")),
                    ("400", error_response("Missing phone")),
                    ("404", error_response("Unknown code or wrong phone")),
                    ("409", error_response("WRONG_STATUS")),
                ])
            }}
        },
        "components": {
          "securitySchemes": {"contactToken": {"type": "http", "scheme": "bearer",
              "description": "The contact token of confirmVerification."}},
          "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "details": {"type": "object"}
                }}}},
            "Office": {"type": "object",
                "required": ["code", "name", "city", "timezone", "address", "whatsapp"],
                "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "city": {"type": "string"},
                    "timezone": {"type": "string"}, "address": {"type": "string"},
                    "whatsapp": {"type": "object", "required": ["display_phone_number", "phone_number_id"],
                        "properties": {"display_phone_number": {"type": "string"}, "phone_number_id": {"type": "string"}}}
                }},
            "Availability": {"type": "object", "required": ["office", "days"], "properties": {
                "office": {"type": "string"},
                "days": {"type": "array", "items": {"type": "object", "required": ["date", "open", "sessions"],
                    "properties": {
                        "date": {"type": "string", "format": "date"},
                        "open": {"type": "boolean"},
                        "closed_reason": {"type": ["string", "null"],
                            "enum": ["WEEKEND", "HOLIDAY", "CLOSED_BY_OFFICE", "OUTSIDE_HORIZON", "NOT_RELEASED", null]},
                        "note": {"type": "string"},
                        "sessions": {"type": "array", "items": {"type": "object",
                            "required": ["session", "capacity", "remaining"],
                            "properties": {
                                "session": {"type": "string", "enum": ["PAGI", "SIANG"]},
                                "capacity": {"type": "integer"}, "remaining": {"type": "integer"},
                                "start": {"type": "string"}, "end": {"type": "string"}
                            }}}
                    }}}
            }},
            "CreateBooking": {"type": "object", "required": ["office_code", "date", "session", "applicants"],
                "description": "The contact is the one the bearer's contact token proves.",
                "properties": {
                    "office_code": {"type": "string"},
                    "date": {"type": "string", "format": "date"},
                    "session": {"type": "string", "enum": ["PAGI", "SIANG"]},
                    "applicants": {"type": "array", "minItems": 1, "maxItems": 5, "items": {"type": "object",
                        "required": ["nik", "name", "birth_date", "application_type"],
                        "properties": {
                            "nik": {"type": "string", "pattern": "^[0-9]{16}$"},
                            "name": {"type": "string"},
                            "birth_date": {"type": "string", "format": "date"},
                            "application_type": {"type": "string", "enum": ["NEW", "REPLACEMENT"]}
                        }}}
                }},
            "WaitlistEntry": {"type": "object", "required": ["entry_id", "position", "state"], "properties": {
                "entry_id": {"type": "string", "format": "uuid"},
                "position": {"type": "integer", "minimum": 1},
                "state": {"type": "string", "enum": ["WAITING", "OFFERED"]}
            }},
            "DrawEntry": {"type": "object", "required": ["entry_id", "draw_at"], "properties": {
                "entry_id": {"type": "string", "format": "uuid"},
                "draw_at": {"type": "string", "format": "date-time"},
                "draw_at_local": {"type": "string", "example": "00:05 WIB"},
                "office_code": {"type": "string"},
                "date": {"type": "string", "format": "date"},
                "session": {"type": "string", "enum": ["PAGI", "SIANG"]},
                "seats": {"type": "integer", "minimum": 1, "maximum": 5}
            }},
            "Draw": {"type": "object", "required": ["office_code", "date", "state", "seed_sha256", "beacon", "entries"], "properties": {
                "office_code": {"type": "string"},
                "date": {"type": "string", "format": "date"},
                "state": {"type": "string", "enum": ["OPEN", "DRAWING", "DONE"]},
                "opens_at": {"type": ["string", "null"], "format": "date-time"},
                "closes_at": {"type": ["string", "null"], "format": "date-time"},
                "seed_sha256": {"type": "string"},
                "beacon": {"type": "object", "required": ["url", "round"], "properties": {
                    "url": {"type": "string"}, "round": {"type": "integer"},
                    "randomness": {"type": ["string", "null"]}}},
                "entries_sha256": {"type": ["string", "null"]},
                "entry_count": {"type": "integer"},
                "seed": {"type": ["string", "null"]},
                "entries": {"type": "array", "items": {"type": "object",
                    "required": ["entry_id", "session", "seats", "position", "outcome"],
                    "properties": {
                        "entry_id": {"type": "string", "format": "uuid"},
                        "session": {"type": "string", "enum": ["PAGI", "SIANG"]},
                        "seats": {"type": "integer"},
                        "position": {"type": "integer"},
                        "outcome": {"type": "string", "enum": ["WON", "WAITLISTED", "REFUSED"]}
                    }}}
            }},
            "VerificationStarted": {"type": "object", "required": ["verification_id", "expires_at"], "properties": {
                "verification_id": {"type": "string", "format": "uuid"},
                "expires_at": {"type": "string", "format": "date-time"}
            }},
            "ContactProof": {"type": "object", "required": ["contact_token", "expires_at"], "properties": {
                "contact_token": {"type": "string"},
                "expires_at": {"type": "string", "format": "date-time"},
                "phone_masked": {"type": "string"}
            }},
            "Booking": {"type": "object",
                "required": ["booking_id", "booking_code", "status", "office", "date", "session", "applicants"],
                "properties": {
                    "booking_id": {"type": "string"},
                    "booking_code": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["HELD", "CONFIRMED", "CHECKED_IN", "SERVED", "EXPIRED", "CANCELLED", "FORFEITED", "NO_SHOW"]},
                    "office": {"type": "object", "required": ["code", "name", "timezone"], "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"},
                        "address": {"type": "string"}, "timezone": {"type": "string"}}},
                    "date": {"type": "string", "format": "date"},
                    "session": {"type": "string", "enum": ["PAGI", "SIANG"]},
                    "timezone_abbreviation": {"type": "string", "enum": ["WIB", "WITA", "WIT"]},
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                    "contact": {"type": "object", "properties": {"phone_masked": {"type": "string"}}},
                    "applicants": {"type": "array", "items": {"type": "object",
                        "required": ["name", "queue_number", "scheduled_at", "arrive_by"],
                        "properties": {
                            "name": {"type": "string"},
                            "application_type": {"type": "string"},
                            "queue_number": {"type": ["string", "null"]},
                            "scheduled_at": {"type": ["string", "null"], "format": "date-time"},
                            "arrive_by": {"type": ["string", "null"], "format": "date-time"}
                        }}}
                }}
        }}
    })
}
