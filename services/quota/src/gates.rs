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
//!   replica, or a capacity or calendar change made there, waits to be seen here (until
//!   then this process answers as before that change: a freed seat is not offered yet, a
//!   date closed there is refused as sold out).
//!
//! A gate that still refuses a crowd in the last [`GATE_REFRESH_MS`] of its life is read
//! again in the background while it stands; the new read replaces it (or, finding seats
//! free, removes it), so a crowd that outlasts the TTL is not sent to the script in a wave
//! each time a gate falls. The bound above is unchanged: a gate never outlives its read by
//! more than the TTL.
//!
//! An id unknown to the gate cannot belong to a hold admitted into a sold-out session since
//! the gate was read, unless seats came free meanwhile, which ends the gate in one of the ways
//! above. Holds this process admits while a gate stands are added to it.
use crate::counters::DayKey;
use antrean_platform::domain::SessionOfDay;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Longest life of a gate, in the clock's milliseconds.
pub const GATE_TTL_MS: i64 = 100;

/// How long before a gate falls by its TTL a refusal from it reads it again.
pub const GATE_REFRESH_MS: i64 = 25;

/// Most hold ids a gate carries; a day with more recorded holds gets none.
pub const GATE_MAX_IDS: usize = 4096;

/// What a gate says of one Hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No gate refuses it: the hold script decides.
    Script,
    /// Refused: the session has no seat left.
    Refuse,
    /// Refused, and the gate is near its end: the caller reads it again, as after
    /// [`Gates::begin_read`] (this call began the read).
    RefuseAndRead,
}

pub(crate) struct Gate {
    /// Indexed by session: [PAGI, SIANG].
    sold: [bool; 2],
    until_ms: i64,
    ids: HashSet<String>,
}

impl Gate {
    /// The gate script's answer read at `now_ms`; `None` when it set no gate.
    pub(crate) fn from_answer(answer: Vec<String>, now_ms: i64) -> Option<Self> {
        let mut answer = answer.into_iter();
        let (Some(tag), Some(pagi), Some(siang), Some(expiry)) =
            (answer.next(), answer.next(), answer.next(), answer.next())
        else {
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
            ids: answer.collect(),
        })
    }
}

#[derive(Default)]
pub(crate) struct Gates {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    gates: HashMap<DayKey, Gate>,
    /// Days whose gate is being read, each with whether the day changed meanwhile (a read
    /// that overlapped a change is not kept).
    reading: HashMap<DayKey, bool>,
}

impl State {
    /// True when `day` has no standing gate and none is being read.
    fn readable(&self, day: &DayKey, now_ms: i64) -> bool {
        let standing = self.gates.get(day).is_some_and(|g| now_ms < g.until_ms);
        !standing && !self.reading.contains_key(day)
    }
}

impl Gates {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a Hold of `hold_id` for `session` of `day` is refused without a call, and
    /// whether the caller is to read the gate again (see [`Verdict::RefuseAndRead`]).
    pub(crate) fn refuses(
        &self,
        day: &DayKey,
        session: SessionOfDay,
        hold_id: &str,
        now_ms: i64,
    ) -> Verdict {
        let mut state = self.state();
        let Some(gate) = state.gates.get(day) else {
            return Verdict::Script;
        };
        if now_ms >= gate.until_ms {
            state.gates.remove(day);
            return Verdict::Script;
        }
        if !crate::counters::of(&gate.sold, session) || gate.ids.contains(hold_id) {
            return Verdict::Script;
        }
        if now_ms + GATE_REFRESH_MS >= gate.until_ms && !state.reading.contains_key(day) {
            state.reading.insert(day.clone(), false);
            return Verdict::RefuseAndRead;
        }
        Verdict::Refuse
    }

    /// A hold of `day` was admitted through this process.
    pub(crate) fn admitted(&self, day: &DayKey, hold_id: &str) {
        if let Some(gate) = self.state().gates.get_mut(day) {
            gate.ids.insert(hold_id.to_owned());
        }
    }

    /// True when `day` has no standing gate and none is being read.
    pub(crate) fn wanted(&self, day: &DayKey, now_ms: i64) -> bool {
        self.state().readable(day, now_ms)
    }

    /// Starts reading the gate of `day`; false when one stands or is being read.
    pub(crate) fn begin_read(&self, day: &DayKey, now_ms: i64) -> bool {
        let mut state = self.state();
        if !state.readable(day, now_ms) {
            return false;
        }
        state.reading.insert(day.clone(), false);
        true
    }

    /// Ends the read of `day` begun by [`Gates::begin_read`] or by a
    /// [`Verdict::RefuseAndRead`], started at `now_ms`: `gate` replaces any standing gate
    /// (`None` removes it) unless the day changed meanwhile.
    pub(crate) fn read(&self, day: &DayKey, now_ms: i64, gate: Option<Gate>) {
        let mut state = self.state();
        let changed = state.reading.remove(day).unwrap_or(true);
        if changed {
            return;
        }
        // A read while a gate stands replaces it. Ids the standing gate learnt meanwhile are
        // kept: an id in a gate only sends its Hold to the script.
        let standing = state.gates.remove(day);
        if let Some(mut gate) = gate {
            if let Some(old) = standing {
                gate.ids.extend(old.ids);
            }
            if state.gates.len() >= 64 {
                // Gates live for moments: drop those that fell, so memory stays bounded by
                // the days sold out right now.
                state.gates.retain(|_, g| now_ms < g.until_ms);
            }
            state.gates.insert(day.clone(), gate);
        }
    }

    /// Something may have freed seats of `day`, or recorded a hold id there.
    pub(crate) fn changed(&self, day: &DayKey) {
        let mut state = self.state();
        state.gates.remove(day);
        if let Some(changed) = state.reading.get_mut(day) {
            *changed = true;
        }
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

    /// Refused without a call (whether or not the gate is to be read again).
    fn refused(gates: &Gates, session: SessionOfDay, id: &str, now_ms: i64) -> bool {
        gates.refuses(&day(), session, id, now_ms) != Verdict::Script
    }

    fn answer(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_gate_refuses_unknown_ids_of_sold_out_sessions_until_it_falls() {
        let gates = Gates::default();
        assert!(gates.begin_read(&day(), 1_000));
        let gate = Gate::from_answer(answer(&["GATE", "1", "0", "1050", "kept"]), 1_000);
        gates.read(&day(), 1_000, gate);
        assert!(refused(&gates, SessionOfDay::Pagi, "new", 1_000));
        assert!(!refused(&gates, SessionOfDay::Pagi, "kept", 1_000));
        assert!(!refused(&gates, SessionOfDay::Siang, "new", 1_000));
        gates.admitted(&day(), "mine");
        assert!(!refused(&gates, SessionOfDay::Pagi, "mine", 1_010));
        // The earliest live hold expires at 1050: its seats may be free then.
        assert!(!refused(&gates, SessionOfDay::Pagi, "new", 1_050));
        assert!(!refused(&gates, SessionOfDay::Pagi, "new", 1_000));
    }

    #[test]
    fn a_gate_lives_at_most_its_ttl_and_falls_on_a_change() {
        let gates = Gates::default();
        assert!(gates.wanted(&day(), 0));
        assert!(gates.begin_read(&day(), 0));
        assert!(!gates.wanted(&day(), 0));
        assert!(!gates.begin_read(&day(), 0), "one read at a time");
        gates.read(
            &day(),
            0,
            Gate::from_answer(answer(&["GATE", "1", "1", ""]), 0),
        );
        assert!(!gates.begin_read(&day(), 1), "a gate stands");
        assert!(refused(&gates, SessionOfDay::Siang, "x", GATE_TTL_MS - 1));
        assert!(!refused(&gates, SessionOfDay::Siang, "x", GATE_TTL_MS));
        // The refusal near the end began a read again; it finds no gate.
        gates.read(&day(), GATE_TTL_MS - 1, None);

        assert!(gates.begin_read(&day(), 0));
        gates.read(
            &day(),
            0,
            Gate::from_answer(answer(&["GATE", "1", "1", ""]), 0),
        );
        gates.changed(&day());
        assert!(!refused(&gates, SessionOfDay::Pagi, "x", 1));
    }

    #[test]
    fn a_read_that_overlapped_a_change_is_not_kept() {
        let gates = Gates::default();
        assert!(gates.begin_read(&day(), 0));
        gates.changed(&day());
        gates.read(
            &day(),
            0,
            Gate::from_answer(answer(&["GATE", "1", "1", ""]), 0),
        );
        assert!(!refused(&gates, SessionOfDay::Pagi, "x", 1));
        assert!(gates.begin_read(&day(), 1), "the read ended");
        // A change to another day leaves this read alone.
        gates.changed(&DayKey {
            office: "DEPOK".into(),
            date: day().date,
        });
        gates.read(
            &day(),
            1,
            Gate::from_answer(answer(&["GATE", "1", "1", ""]), 1),
        );
        assert!(refused(&gates, SessionOfDay::Pagi, "x", 2));
        assert!(Gate::from_answer(answer(&["NONE"]), 0).is_none());
    }

    #[test]
    fn gates_that_fell_are_dropped_as_others_are_read() {
        let gates = Gates::default();
        for i in 0..100 {
            let day = DayKey {
                office: format!("O{i}"),
                date: "2026-12-01".parse().unwrap(),
            };
            let at = i * GATE_TTL_MS;
            assert!(gates.begin_read(&day, at));
            let gate = Gate::from_answer(answer(&["GATE", "1", "1", ""]), at);
            gates.read(&day, at, gate);
        }
        assert!(gates.state().gates.len() <= 64);
    }

    #[test]
    fn a_gate_near_its_end_is_read_again_once_and_replaced_keeping_what_it_learnt() {
        let gates = Gates::default();
        assert!(gates.begin_read(&day(), 0));
        gates.read(
            &day(),
            0,
            Gate::from_answer(answer(&["GATE", "1", "0", ""]), 0),
        );
        let due = GATE_TTL_MS - GATE_REFRESH_MS;
        assert_eq!(
            gates.refuses(&day(), SessionOfDay::Pagi, "x", due - 1),
            Verdict::Refuse
        );
        assert_eq!(
            gates.refuses(&day(), SessionOfDay::Siang, "x", due),
            Verdict::Script
        );
        assert_eq!(
            gates.refuses(&day(), SessionOfDay::Pagi, "x", due),
            Verdict::RefuseAndRead
        );
        assert_eq!(
            gates.refuses(&day(), SessionOfDay::Pagi, "y", due + 1),
            Verdict::Refuse,
            "one read at a time"
        );
        assert!(!gates.begin_read(&day(), due + 1));
        gates.admitted(&day(), "mine");
        gates.read(
            &day(),
            due,
            Gate::from_answer(answer(&["GATE", "1", "0", ""]), due),
        );
        // The new read stands its own TTL, and still knows the hold admitted meanwhile.
        assert!(refused(&gates, SessionOfDay::Pagi, "x", GATE_TTL_MS + 1));
        assert!(!refused(
            &gates,
            SessionOfDay::Pagi,
            "mine",
            GATE_TTL_MS + 1
        ));
        assert!(!refused(&gates, SessionOfDay::Pagi, "x", due + GATE_TTL_MS));
    }

    #[test]
    fn a_read_again_that_finds_seats_or_overlapped_a_change_ends_the_gate() {
        let gates = Gates::default();
        let due = GATE_TTL_MS - GATE_REFRESH_MS;
        for ending in ["seats free", "changed"] {
            assert!(gates.begin_read(&day(), 0));
            gates.read(
                &day(),
                0,
                Gate::from_answer(answer(&["GATE", "1", "1", ""]), 0),
            );
            assert_eq!(
                gates.refuses(&day(), SessionOfDay::Pagi, "x", due),
                Verdict::RefuseAndRead
            );
            let read = if ending == "changed" {
                gates.changed(&day());
                Gate::from_answer(answer(&["GATE", "1", "1", ""]), due)
            } else {
                Gate::from_answer(answer(&["NONE"]), due)
            };
            gates.read(&day(), due, read);
            assert!(
                !refused(&gates, SessionOfDay::Pagi, "x", due + 1),
                "{ending}"
            );
        }
    }
}
