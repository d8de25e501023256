//! Figures for the directorate's dashboard, counted in people from the booking ledger.
use crate::bookings::Bookings;
use crate::error::Result;
use antrean_platform::domain::format_date;
use antrean_proto::v1 as pb;
use chrono::NaiveDate;
use sqlx::FromRow;

#[derive(Debug, FromRow)]
struct Row {
    office_code: String,
    date: NaiveDate,
    booked: i64,
    checked_in: i64,
    served: i64,
    forfeited: i64,
    no_show: i64,
    cancelled: i64,
    whatsapp: i64,
    web: i64,
    app: i64,
    staff: i64,
    walk_ins: i64,
    waitlist: i64,
    called: i64,
    wait_seconds: i64,
}

impl Bookings {
    /// Per office (`office` empty: all) and date in `[from, to]`, plus the total.
    pub async fn stats(
        &self,
        office: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<pb::StatsReport> {
        let rows: Vec<Row> = sqlx::query_as!(Row, r#"WITH people AS (
                SELECT b.office_code, b.date, b.status, b.channel, b.confirmed_at
                FROM bookings b JOIN booking_applicants a ON a.booking_id = b.id
                WHERE ($1 = '' OR b.office_code = $1) AND b.date BETWEEN $2 AND $3
             ), walk AS (
                SELECT office_code, date, count(*) AS n FROM tickets
                WHERE priority AND booking_id IS NULL
                  AND ($1 = '' OR office_code = $1) AND date BETWEEN $2 AND $3
                GROUP BY office_code, date
             ), wait AS (
                SELECT office_code, date, sum(seats) AS n FROM waitlist_entries
                WHERE state = 'WAITING' AND ($1 = '' OR office_code = $1) AND date BETWEEN $2 AND $3
                GROUP BY office_code, date
             ), calls AS (
                SELECT office_code, date, count(*) AS n,
                    sum(GREATEST(EXTRACT(EPOCH FROM first_called_at - created_at), 0))::bigint AS waited
                FROM tickets
                WHERE first_called_at IS NOT NULL AND NOT pickup
                  AND ($1 = '' OR office_code = $1) AND date BETWEEN $2 AND $3
                GROUP BY office_code, date
             ), keys AS (
                SELECT DISTINCT office_code, date FROM people
                UNION SELECT office_code, date FROM walk
                UNION SELECT office_code, date FROM wait
                UNION SELECT office_code, date FROM calls
             )
             SELECT k.office_code AS "office_code!", k.date AS "date!",
                count(p.*) FILTER (WHERE p.confirmed_at IS NOT NULL) AS "booked!",
                count(p.*) FILTER (WHERE p.status IN ('CHECKED_IN', 'SERVED')) AS "checked_in!",
                count(p.*) FILTER (WHERE p.status = 'SERVED') AS "served!",
                count(p.*) FILTER (WHERE p.status = 'FORFEITED') AS "forfeited!",
                count(p.*) FILTER (WHERE p.status = 'NO_SHOW') AS "no_show!",
                count(p.*) FILTER (WHERE p.status = 'CANCELLED' AND p.confirmed_at IS NOT NULL) AS "cancelled!",
                count(p.*) FILTER (WHERE p.confirmed_at IS NOT NULL AND p.channel = 'CHANNEL_WHATSAPP') AS "whatsapp!",
                count(p.*) FILTER (WHERE p.confirmed_at IS NOT NULL AND p.channel = 'CHANNEL_WEB') AS "web!",
                count(p.*) FILTER (WHERE p.confirmed_at IS NOT NULL AND p.channel = 'CHANNEL_APP') AS "app!",
                count(p.*) FILTER (WHERE p.confirmed_at IS NOT NULL AND p.channel = 'CHANNEL_STAFF') AS "staff!",
                COALESCE(max(w.n), 0) AS "walk_ins!",
                COALESCE(max(q.n), 0)::bigint AS "waitlist!",
                COALESCE(max(c.n), 0) AS "called!",
                COALESCE(max(c.waited), 0) AS "wait_seconds!"
             FROM keys k
             LEFT JOIN people p ON p.office_code = k.office_code AND p.date = k.date
             LEFT JOIN walk w ON w.office_code = k.office_code AND w.date = k.date
             LEFT JOIN wait q ON q.office_code = k.office_code AND q.date = k.date
             LEFT JOIN calls c ON c.office_code = k.office_code AND c.date = k.date
             GROUP BY k.office_code, k.date
             ORDER BY k.office_code, k.date"#, office, from, to)
        .fetch_all(self.pool())
        .await?;
        let mut total = pb::StatsRow::default();
        let rows = rows
            .into_iter()
            .map(|r| {
                let row = pb::StatsRow {
                    office_code: r.office_code,
                    date: format_date(r.date),
                    booked: r.booked as u32,
                    checked_in: r.checked_in as u32,
                    served: r.served as u32,
                    forfeited: r.forfeited as u32,
                    no_show: r.no_show as u32,
                    cancelled: r.cancelled as u32,
                    whatsapp: r.whatsapp as u32,
                    web: r.web as u32,
                    app: r.app as u32,
                    staff: r.staff as u32,
                    walk_ins: r.walk_ins as u32,
                    waitlist: r.waitlist as u32,
                    called: r.called as u32,
                    wait_seconds: r.wait_seconds.max(0) as u64,
                };
                total.booked += row.booked;
                total.checked_in += row.checked_in;
                total.served += row.served;
                total.forfeited += row.forfeited;
                total.no_show += row.no_show;
                total.cancelled += row.cancelled;
                total.whatsapp += row.whatsapp;
                total.web += row.web;
                total.app += row.app;
                total.staff += row.staff;
                total.walk_ins += row.walk_ins;
                total.waitlist += row.waitlist;
                total.called += row.called;
                total.wait_seconds += row.wait_seconds;
                row
            })
            .collect();
        Ok(pb::StatsReport {
            rows,
            total: Some(total),
            stages: self.stage_stats(office, from, to).await?,
        })
    }

    /// Per office and stage, for the applicants of bookings dated in `[from, to]` who reached
    /// the counter: how many stand at each stage now, and the median time of the moves into
    /// it from the stage before; for every office (`office` empty) also the nation's, under
    /// office code "".
    async fn stage_stats(
        &self,
        office: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<pb::StageStats>> {
        // Per office, and nationally (office_code '') when every office is asked for.
        let rows = sqlx::query!(
            r#"WITH people AS (
                SELECT a.office_code, a.stage FROM booking_applicants a
                JOIN bookings b ON b.id = a.booking_id
                WHERE ($1 = '' OR a.office_code = $1) AND a.date BETWEEN $2 AND $3
                  AND (a.stage <> 'WAITING' OR b.status IN ('CHECKED_IN', 'SERVED'))
             ), counts AS (
                SELECT COALESCE(office_code, '') AS office_code, stage, count(*) AS n
                FROM people GROUP BY GROUPING SETS ((office_code, stage), (stage))
             ), moves AS (
                SELECT s.office_code, s.stage,
                       s.at - lag(s.at) OVER (PARTITION BY s.booking_id, s.position
                                              ORDER BY s.at, s.id) AS took
                FROM application_stages s JOIN bookings b ON b.id = s.booking_id
                WHERE ($1 = '' OR s.office_code = $1) AND b.date BETWEEN $2 AND $3
             ), medians AS (
                SELECT COALESCE(office_code, '') AS office_code, stage, count(took) AS n,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM took))
                           AS median
                FROM moves WHERE took IS NOT NULL
                GROUP BY GROUPING SETS ((office_code, stage), (stage))
             )
             SELECT COALESCE(c.office_code, m.office_code) AS "office_code!",
                    COALESCE(c.stage, m.stage) AS "stage!",
                    COALESCE(c.n, 0) AS "applicants!", COALESCE(m.n, 0) AS "transitions!",
                    COALESCE(m.median, 0)::float8 AS "median!"
             FROM counts c FULL JOIN medians m
               ON m.office_code = c.office_code AND m.stage = c.stage
             WHERE $1 = '' OR COALESCE(c.office_code, m.office_code) <> ''
             ORDER BY 1, 2"#,
            office,
            from,
            to
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<pb::StageStats> = rows
            .into_iter()
            .map(|r| pb::StageStats {
                office_code: r.office_code,
                stage: antrean_platform::progress::parse(&r.stage) as i32,
                applicants: r.applicants as u32,
                transitions: r.transitions as u32,
                median_seconds: r.median.max(0.0).round() as u64,
            })
            .collect();
        out.sort_by_key(|s| (s.office_code.clone(), s.stage));
        Ok(out)
    }
}
