-- Cross-institution: school referrals (a pupil's first month of the school year at or over
-- the chronic-absence threshold, dated the month's last day) and how many of them had a
-- social-services case open at some time in the :referral_window_days days that follow.
-- Joined on pseudonymised keys only.
WITH first_chronic AS (
    SELECT student_key, MIN(period) AS period
    FROM calc_pupil_months
    WHERE chronic = 1
    GROUP BY student_key, year
), referrals AS (
    SELECT c.student_key, c.territory_code, c.period, p.period_end AS referred_on
    FROM first_chronic f
    JOIN calc_pupil_months c ON c.student_key = f.student_key AND c.period = f.period
    JOIN calc_periods p ON p.period = f.period
), attended AS (
    SELECT r.student_key, r.period
    FROM referrals r
    WHERE EXISTS (
        SELECT 1 FROM calc_case_spells s
        WHERE s.person_key = r.student_key
          AND s.opened_date <= r.referred_on + CAST(:referral_window_days AS INTEGER)
          AND s.closed_date >= r.referred_on
    )
)
SELECT r.territory_code, r.period, 'all' AS breakdown,
       COUNT(a.student_key) AS units, COUNT(a.student_key) AS numerator,
       COUNT(*) AS denominator
FROM referrals r
LEFT JOIN attended a ON a.student_key = r.student_key AND a.period = r.period
GROUP BY r.territory_code, r.period
