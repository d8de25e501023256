//! Offices, loaded once from the ledger and kept in memory (they change only by migration).
use antrean_platform::domain::{SessionOfDay, indonesian_zone_abbreviation};
use chrono::NaiveTime;
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct SessionHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Capacity of a normal open day unless set for the date.
    pub default_capacity: u32,
}

#[derive(Debug, Clone)]
pub struct Office {
    pub code: String,
    pub name: String,
    pub city: String,
    pub tz: Tz,
    pub address: String,
    pub wa_display_number: String,
    pub wa_phone_number_id: String,
    pub pagi: SessionHours,
    pub siang: SessionHours,
}

impl Office {
    pub fn hours(&self, s: SessionOfDay) -> &SessionHours {
        match s {
            SessionOfDay::Pagi => &self.pagi,
            SessionOfDay::Siang => &self.siang,
        }
    }

    /// WIB, WITA or WIT.
    pub fn zone(&self) -> &'static str {
        indonesian_zone_abbreviation(self.tz)
    }
}

/// Every office by code and by WhatsApp phone_number_id.
#[derive(Debug, Clone, Default)]
pub struct Offices {
    by_code: HashMap<String, Arc<Office>>,
    by_phone_number_id: HashMap<String, Arc<Office>>,
    ordered: Vec<Arc<Office>>,
}

impl Offices {
    pub fn new(list: Vec<Office>) -> Self {
        let mut o = Offices::default();
        for office in list {
            let office = Arc::new(office);
            o.by_code.insert(office.code.clone(), office.clone());
            o.by_phone_number_id
                .insert(office.wa_phone_number_id.clone(), office.clone());
            o.ordered.push(office);
        }
        o.ordered.sort_by(|a, b| a.code.cmp(&b.code));
        o
    }

    /// By code, case-insensitively.
    pub fn get(&self, code: &str) -> Option<&Arc<Office>> {
        self.by_code.get(&code.trim().to_ascii_uppercase())
    }

    pub fn by_phone_number_id(&self, id: &str) -> Option<&Arc<Office>> {
        self.by_phone_number_id.get(id.trim())
    }

    pub fn all(&self) -> &[Arc<Office>] {
        &self.ordered
    }
}
