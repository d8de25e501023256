//! A booking's status, and the one rule of how it may change.
//!
//! [`BookingStatus`] is stored as text (the `bookings.status` CHECK constraint lists the same
//! names) through `sqlx::Type`, and crosses the API as `pb::BookingStatus`. Every change of
//! status, whatever the path (creation, confirmation, expiry, cancellation, check-in, the
//! counter, the sweeper), is a [`Transition`] made by [`transition`], which refuses any pair
//! [`ALLOWED`] does not list; the stores write the pair it returns.
use antrean_proto::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    /// Seats held, waiting for the contact's confirmation code.
    Held,
    /// Booked: booking code, queue numbers and schedule.
    Confirmed,
    /// Arrived in time at the office.
    CheckedIn,
    /// Everyone of it was served at a counter.
    Served,
    /// Not confirmed in time.
    Expired,
    /// Cancelled by the applicant, the system or the office.
    Cancelled,
    /// Arrived after the schedule: the seats are lost.
    Forfeited,
    /// Did not come.
    NoShow,
}

use BookingStatus::*;

/// Every status change there is: `(None, s)` is a booking created in `s`.
pub const ALLOWED: &[(Option<BookingStatus>, BookingStatus)] = &[
    // Every booking starts with its seats held; a verified web or app contact's is
    // confirmed in the same request, a WhatsApp booking once the code comes back.
    (None, Held),
    (Some(Held), Confirmed),
    (Some(Held), Expired),
    (Some(Held), Cancelled),
    (Some(Confirmed), Cancelled),
    (Some(Confirmed), CheckedIn),
    (Some(Confirmed), Forfeited),
    (Some(Confirmed), NoShow),
    (Some(CheckedIn), Served),
];

impl BookingStatus {
    pub const ALL: [BookingStatus; 8] = [
        Held, Confirmed, CheckedIn, Served, Expired, Cancelled, Forfeited, NoShow,
    ];

    /// The stored name (`HELD`, `CHECKED_IN`, ...), also the API's.
    pub fn as_str(self) -> &'static str {
        match self {
            Held => "HELD",
            Confirmed => "CONFIRMED",
            CheckedIn => "CHECKED_IN",
            Served => "SERVED",
            Expired => "EXPIRED",
            Cancelled => "CANCELLED",
            Forfeited => "FORFEITED",
            NoShow => "NO_SHOW",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn to_proto(self) -> pb::BookingStatus {
        match self {
            Held => pb::BookingStatus::Held,
            Confirmed => pb::BookingStatus::Confirmed,
            CheckedIn => pb::BookingStatus::CheckedIn,
            Served => pb::BookingStatus::Served,
            Expired => pb::BookingStatus::Expired,
            Cancelled => pb::BookingStatus::Cancelled,
            Forfeited => pb::BookingStatus::Forfeited,
            NoShow => pb::BookingStatus::NoShow,
        }
    }

    /// Whether its people are taken (a person holds one active booking nationwide).
    pub fn is_active(self) -> bool {
        matches!(self, Held | Confirmed | CheckedIn)
    }
}

impl std::fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change [`ALLOWED`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<BookingStatus>,
    pub to: BookingStatus,
}

/// A change from `from` to `to` ([`ALLOWED`] or refused with the status it was in).
pub fn transition(
    from: Option<BookingStatus>,
    to: BookingStatus,
) -> Result<Transition, crate::error::BookingError> {
    if ALLOWED.contains(&(from, to)) {
        Ok(Transition { from, to })
    } else {
        Err(crate::error::BookingError::WrongStatus(
            from.map_or("NEW", BookingStatus::as_str).to_owned(),
        ))
    }
}

antrean_platform::sqlx_text_enum!(BookingStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_transitions_are_these_and_no_others() {
        let mut allowed = Vec::new();
        for from in std::iter::once(None).chain(BookingStatus::ALL.map(Some)) {
            for to in BookingStatus::ALL {
                if transition(from, to).is_ok() {
                    allowed.push(format!(
                        "{} -> {to}",
                        from.map_or("(new)", BookingStatus::as_str)
                    ));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                "(new) -> HELD",
                "HELD -> CONFIRMED",
                "HELD -> EXPIRED",
                "HELD -> CANCELLED",
                "CONFIRMED -> CHECKED_IN",
                "CONFIRMED -> CANCELLED",
                "CONFIRMED -> FORFEITED",
                "CONFIRMED -> NO_SHOW",
                "CHECKED_IN -> SERVED",
            ]
        );
        // Ended bookings stay ended.
        for end in [Served, Expired, Cancelled, Forfeited, NoShow] {
            assert!(
                BookingStatus::ALL
                    .iter()
                    .all(|&to| transition(Some(end), to).is_err())
            );
        }
    }

    #[test]
    fn names_round_trip_and_match_the_api() {
        for s in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                s.to_proto().as_str_name(),
                format!("BOOKING_STATUS_{}", s.as_str())
            );
        }
        assert_eq!(BookingStatus::parse("ACTIVE"), None);
    }
}
