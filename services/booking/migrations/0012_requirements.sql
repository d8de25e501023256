-- Per-applicant requirements: the passport applied for, and the birth date the checklist
-- reads the age from (under 17 on the booking's date: the parents' documents). Birth dates
-- are cleared with the names once a booking's date is past the retention period.
ALTER TABLE booking_applicants
    ADD COLUMN passport_type text NOT NULL DEFAULT 'NON_ELECTRONIC'
        CHECK (passport_type IN ('NON_ELECTRONIC', 'ELECTRONIC')),
    ADD COLUMN birth_date date;
