//! Sold-out gates: a process's memory of which sessions of a day have no seat left, so a
//! flash crowd's refusals are answered without a Redis call each.
//!
//! A gate is read from Redis by one script call (`lua/gate.lua`), atomically with the
//! seats in use and every hold id the day has recorded. While it stands, a Hold for a
//! sold-out session with an id the gate does not know is refused exactly as the hold script
//! would refuse it; every other Hold goes to the script. It falls, so the next Hold asks
//! Redis again:
//! - at the earliest expiry of a live hold (the script would reclaim those seats then);
//! - when this process releases, commits, rebuilds or drops counters of the day;
//! - [`GATE_TTL_MS`] after it was read, which bounds how long a seat freed by another
//!   replica, or a capacity change made there, waits to be offered here.
//!
//! An id unknown to the gate cannot belong to a hold admitted into a sold-out session since
//! the gate was read, unless seats came free meanwhile, which ends the gate in one of the ways
//! above. Holds this process admits while a gate stands are added to it.
use crate::counters::{DayKey, idx};
use antrean_platform::domain::SessionOfDay;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest life of a gate, in the clock's milliseconds.
pub const GATE_TTL_MS: i64 = 100;

/// Most hold ids a gate carries; a day with more recorded holds gets none.
pub const GATE_MAX_IDS: usize = 4096;

pub(crate) struct Gate {
    /// Indexed by session: [PAGI, SIANG].
    sold: [bool; 2],
    until_ms: i64,
    ids: HashSet<String>,
}

impl Gate {
    /// The gate script's answer read at `now_ms`; `None` when it set no gate.
    pub(crate) fn from_answer(answer: &[String], now_ms: i64) -> Option<Self> {
        let [tag, pagi, siang, expiry, ids @ ..] = answer else {
            return None;
        };
        if tag != "GATE" {
            return None;
        }
        let mut until_ms = now_ms + GATE_TTL_MS;
        if let Ok(first) = expiry.parse::<f64>() {
            until_ms = until_ms.min(first as i64);
        }
        Some(Self {
            sold: [pagi == "1", siang == "1"],
            until_ms,
            ids: ids.iter().cloned().collect(),
        })
    }
}

#[derive(Default)]
pub(crate) struct Gates {
    map: Mutex<HashMap<DayKey, Gate>>,
    /// Days whose gate is being read.
    reading: Mutex<HashSet<DayKey>>,
    /// Bumped whenever a gate must fall: a gate read that overlapped such a change is not
    /// kept.
    changes: AtomicU64,
}

impl Gates {
    /// True when a Hold of `hold_id` for `session` of `day` is refused without a call.
    pub(crate) fn refuses(
        &self,
        day: &DayKey,
        session: SessionOfDay,
        hold_id: &str,
        now_ms: i64,
    ) -> bool {
        let mut map = self.map.lock().expect("poisoned");
        let Some(gate) = map.get(day) else {
            return false;
        };
        if now_ms >= gate.until_ms {
            map.remove(day);
            return false;
        }
        gate.sold[idx(session)] && !gate.ids.contains(hold_id)
    }

    /// A hold of `day` was admitted through this process.
    pub(crate) fn admitted(&self, day: &DayKey, hold_id: &str) {
        if let Some(gate) = self.map.lock().expect("poisoned").get_mut(day) {
            gate.ids.insert(hold_id.to_owned());
        }
    }

    /// True when `day` has no standing gate and none is being read.
    pub(crate) fn wanted(&self, day: &DayKey, now_ms: i64) -> bool {
        !self.standing(day, now_ms) && !self.reading.lock().expect("poisoned").contains(day)
    }

    fn standing(&self, day: &DayKey, now_ms: i64) -> bool {
        let map = self.map.lock().expect("poisoned");
        map.get(day).is_some_and(|g| now_ms < g.until_ms)
    }

    /// Starts reading the gate of `day` unless one stands or is being read: the change count
    /// to hand back to [`Gates::read`], or `None`.
    pub(crate) fn begin_read(&self, day: &DayKey, now_ms: i64) -> Option<u64> {
        if self.standing(day, now_ms) || !self.reading.lock().expect("poisoned").insert(day.clone())
        {
            return None;
        }
        Some(self.changes.load(Ordering::SeqCst))
    }

    /// Ends the read begun at change count `changes`, keeping `gate` if nothing changed.
    pub(crate) fn read(&self, day: &DayKey, changes: u64, gate: Option<Gate>) {
        let mut map = self.map.lock().expect("poisoned");
        if let Some(gate) = gate
            && self.changes.load(Ordering::SeqCst) == changes
        {
            if map.len() > 10_000 {
                // Days long past: start afresh rather than grow without end.
                map.clear();
            }
            map.insert(day.clone(), gate);
        }
        drop(map);
        self.reading.lock().expect("poisoned").remove(day);
    }

    /// Something may have freed seats of `day`, or recorded a hold id there.
    pub(crate) fn changed(&self, day: &DayKey) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.map.lock().expect("poisoned").remove(day);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> DayKey {
        DayKey {
            office: "BOGOR".into(),
            date: "2026-12-01".parse().unwrap(),
        }
    }

    fn answer(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_gate_refuses_unknown_ids_of_sold_out_sessions_until_it_falls() {
        let gates = Gates::default();
        let changes = gates.begin_read(&day(), 1_000).unwrap();
        let gate = Gate::from_answer(&answer(&["GATE", "1", "0", "1050", "kept"]), 1_000);
        gates.read(&day(), changes, gate);
        assert!(gates.refuses(&day(), SessionOfDay::Pagi, "new", 1_000));
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "kept", 1_000));
        assert!(!gates.refuses(&day(), SessionOfDay::Siang, "new", 1_000));
        gates.admitted(&day(), "mine");
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "mine", 1_010));
        // The earliest live hold expires at 1050: its seats may be free then.
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "new", 1_050));
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "new", 1_000));
    }

    #[test]
    fn a_gate_lives_at_most_its_ttl_and_falls_on_a_change() {
        let gates = Gates::default();
        assert!(gates.wanted(&day(), 0));
        let changes = gates.begin_read(&day(), 0).unwrap();
        assert!(!gates.wanted(&day(), 0));
        assert_eq!(gates.begin_read(&day(), 0), None, "one read at a time");
        gates.read(
            &day(),
            changes,
            Gate::from_answer(&answer(&["GATE", "1", "1", ""]), 0),
        );
        assert_eq!(gates.begin_read(&day(), 1), None, "a gate stands");
        assert!(gates.refuses(&day(), SessionOfDay::Siang, "x", GATE_TTL_MS - 1));
        assert!(!gates.refuses(&day(), SessionOfDay::Siang, "x", GATE_TTL_MS));

        let changes = gates.begin_read(&day(), 0).unwrap();
        gates.read(
            &day(),
            changes,
            Gate::from_answer(&answer(&["GATE", "1", "1", ""]), 0),
        );
        gates.changed(&day());
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "x", 1));
    }

    #[test]
    fn a_read_that_overlapped_a_change_is_not_kept() {
        let gates = Gates::default();
        let changes = gates.begin_read(&day(), 0).unwrap();
        gates.changed(&day());
        gates.read(
            &day(),
            changes,
            Gate::from_answer(&answer(&["GATE", "1", "1", ""]), 0),
        );
        assert!(!gates.refuses(&day(), SessionOfDay::Pagi, "x", 1));
        assert!(gates.begin_read(&day(), 1).is_some(), "the read ended");
        assert!(Gate::from_answer(&answer(&["NONE"]), 0).is_none());
    }
}
